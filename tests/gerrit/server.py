"""The stand-in as a process: `python -m gerrit.server ROOT` (with tests/ on
the path) serves SSH on 127.0.0.1 and the control channel, and stops on
SIGTERM after saving its state.

Everything lives under ROOT: state.json, git/<project>.git, the host key
(ssh_host_ed25519_key, made on first start), hooks/, server.log, and
`ports.json`, written once both ports listen ({"ssh": N, "control": M}).
A restart on the same ROOT reuses the SSH port and the host key.
"""
from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
import threading

import paramiko

from . import control, keys
from .site import Site
from .sshd import SSHServer

HOOK_WRAPPER = '#!/bin/sh\nexec "$GERRIT_STANDIN_PYTHON" "$GERRIT_STANDIN_HOOK"\n'


def host_key(root: str) -> paramiko.PKey:
    path = os.path.join(root, "ssh_host_ed25519_key")
    if not os.path.exists(path):
        keys.generate(path, "gerrit-standin")
    return paramiko.Ed25519Key(filename=path)


def install_hooks(root: str) -> None:
    hooks = os.path.join(root, "hooks")
    os.makedirs(hooks, exist_ok=True)
    path = os.path.join(hooks, "proc-receive")
    with open(path, "w") as f:
        f.write(HOOK_WRAPPER)
    os.chmod(path, 0o755)


def previous_ssh_port(root: str) -> int:
    path = os.path.join(root, "ports.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return json.load(f)["ssh"]


def main(root: str) -> None:
    logging.basicConfig(filename=os.path.join(root, "server.log"), level=os.environ.get("GERRIT_STANDIN_LOG", "INFO"),
                        format="%(asctime)s %(threadName)s %(message)s")
    faulthandler.register(signal.SIGUSR1, open(os.path.join(root, "stacks.txt"), "a"))
    site = Site(root)
    install_hooks(root)
    sshd = SSHServer(site, host_key(root), previous_ssh_port(root))
    site.count_connections = sshd.connections
    ctl = control.serve(site)
    os.environ["GERRIT_STANDIN_CONTROL"] = "127.0.0.1:%d" % ctl.server_address[1]
    threading.Thread(target=sshd.serve_forever, daemon=True, name="sshd").start()
    threading.Thread(target=ctl.serve_forever, daemon=True, name="control").start()
    ports = {"ssh": sshd.port, "control": ctl.server_address[1], "pid": os.getpid()}
    with open(os.path.join(root, "ports.json.tmp"), "w") as f:
        json.dump(ports, f)
    os.replace(os.path.join(root, "ports.json.tmp"), os.path.join(root, "ports.json"))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # SIGTERM may be delivered to any thread; waking now and then lets
    # the main thread run its handler even then. A stand-in whose test
    # process died (killed pytest) stops too, rather than linger.
    parent = os.getppid()
    while not stopping.wait(0.2):
        if os.getppid() != parent:
            break
    sshd.stop()
    ctl.shutdown()
    with site.changing():
        pass                                  # a last save


if __name__ == "__main__":
    main(sys.argv[1])
