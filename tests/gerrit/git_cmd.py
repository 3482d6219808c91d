"""`git-upload-pack` and `git-receive-pack` over SSH: real git on the
project's bare repository, wired to the channel in both directions (its
stdin from the client until EOF, its stdout and stderr back, then its exit
status). receive-pack hands every command to the proc-receive hook (see
receive.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from .session import Session

HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "git_hook.py")


def project_of(path: str) -> str:
    """Gerrit accepts '/nova', 'nova.git' and 'nova' alike."""
    return path.strip("/").removesuffix(".git")


def upload_pack(session: Session) -> int:
    return _serve(session, ["upload-pack"])


def receive_pack(session: Session) -> int:
    hooks = os.path.join(session.site.root, "hooks")
    return _serve(session, ["-c", f"core.hooksPath={hooks}", "-c", "receive.procReceiveRefs=refs/",
                            "-c", "receive.advertisePushOptions=true", "receive-pack"])


def _serve(session: Session, git_args: list[str]) -> int:
    if len(session.argv) != 2:
        session.err(f"fatal: usage: {session.argv[0]} '<project>'\n")
        return 1
    project = project_of(session.argv[1])
    if project not in session.site.state.projects:
        session.err(f"fatal: project {project} not found\n")
        return 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GERRIT_STANDIN_USER=session.user, GERRIT_STANDIN_PROJECT=project,
               GERRIT_STANDIN_PYTHON=sys.executable, GERRIT_STANDIN_HOOK=HOOK)
    if "GIT_PROTOCOL" in session.env:
        env["GIT_PROTOCOL"] = session.env["GIT_PROTOCOL"]
    proc = subprocess.Popen(["git", *git_args, session.site.repo(project)], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = threading.Thread(target=_feed, args=(session, proc), daemon=True)
    feeder.start()
    senders = [threading.Thread(target=_send, args=(proc.stdout, session.channel.sendall)),
               threading.Thread(target=_send, args=(proc.stderr, session.channel.sendall_stderr))]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    return proc.wait()


def _feed(session: Session, proc: subprocess.Popen) -> None:
    """Client to git, until the client's EOF (or git stops listening)."""
    try:
        while data := session.channel.recv(65536):
            proc.stdin.write(data)
            proc.stdin.flush()
    except (OSError, ValueError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def _send(stream, send) -> None:
    try:
        while data := stream.read1(65536):
            send(data)
    except OSError:
        pass
