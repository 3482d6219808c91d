"""gateq's Gerrit SSH client against the stand-in: real SSH on 127.0.0.1.
What a user sees: results, and one line naming what went wrong."""
import socket
import threading
import time

import pytest

from gateq.drivers.gerrit import (GerritAuthError, GerritCommandError, GerritHostKeyError,
                                  GerritSSH, GerritTimeout, GerritUnreachable, review_command)
from gateq.drivers.gerrit.quoting import command_line, quote
from gerrit import keys
from gerrit.standin import wait_for
from gerrit.fixtures import gerrit, gerrit_site, own_gerrit, project, session_keys  # noqa: F401


def one_line(exc) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_runs_gerrit_version(gerrit):
    result = GerritSSH(gerrit.settings()).run(["gerrit", "version"])
    assert (result.exit_status, result.stdout, result.stderr) == (0, "gerrit version 3.9.1\n", "")


def test_commands_share_one_session(own_gerrit):
    ssh = GerritSSH(own_gerrit.settings())
    for _ in range(3):
        ssh.run(["gerrit", "version"])
    assert own_gerrit.standin.connections() == 1
    ssh.close()
    wait_for(lambda: own_gerrit.standin.connections() == 0, 5, "the session to close")


def test_unknown_host_key_is_refused_naming_its_fingerprint(gerrit, tmp_path, session_keys):
    other = keys.generate(str(tmp_path / "other"))
    known_hosts = str(tmp_path / "kh")
    with open(known_hosts, "w") as f:       # another server only
        f.write(keys.known_hosts_line("127.0.0.1", 1, other.public))
    with pytest.raises(GerritHostKeyError) as exc:
        GerritSSH(gerrit.settings(known_hosts=known_hosts)).run(["gerrit", "version"])
    line = one_line(exc)
    assert line.startswith(f"gerrit 127.0.0.1:{gerrit.standin.port}: unknown host key ")
    assert f"ssh-ed25519 {gerrit.standin.host_key.fingerprint}" in line
    assert gerrit.standin.host_key.fingerprint.startswith("SHA256:")


def test_changed_host_key_is_refused(gerrit, tmp_path):
    impostor = keys.generate(str(tmp_path / "impostor"))
    known_hosts = gerrit.standin.write_known_hosts(str(tmp_path / "kh"), impostor.public)
    with pytest.raises(GerritHostKeyError) as exc:
        GerritSSH(gerrit.settings(known_hosts=known_hosts)).run(["gerrit", "version"])
    line = one_line(exc)
    assert "host key changed" in line
    assert gerrit.standin.host_key.fingerprint in line and impostor.fingerprint in line


def test_missing_known_hosts_file_is_one_line(gerrit, tmp_path):
    with pytest.raises(GerritHostKeyError) as exc:
        GerritSSH(gerrit.settings(known_hosts=str(tmp_path / "nope"))).run(["gerrit", "version"])
    assert "cannot read known-hosts" in one_line(exc)


@pytest.mark.parametrize("user, key", [("gateq", "stranger"), ("nobody", "gateq")])
def test_wrong_key_or_unknown_user_is_refused(gerrit, session_keys, user, key):
    with pytest.raises(GerritAuthError) as exc:
        GerritSSH(gerrit.settings(user=user, sshkey=session_keys[key].path)).run(["gerrit", "version"])
    assert f"authentication failed for user {user}" in one_line(exc)


def test_unreadable_key_is_one_line(gerrit, tmp_path):
    bad = tmp_path / "key"
    bad.write_text("not a key\n")
    with pytest.raises(GerritAuthError) as exc:
        GerritSSH(gerrit.settings(sshkey=str(bad))).run(["gerrit", "version"])
    assert f"cannot use sshkey {bad}" in one_line(exc)


def test_closed_port_is_refused(gerrit):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(GerritUnreachable) as exc:
        GerritSSH(gerrit.settings(port=port)).run(["gerrit", "version"])
    assert one_line(exc) == f"gerrit 127.0.0.1:{port}: connection refused"


def test_server_closing_before_ssh_is_unreachable(gerrit):
    gerrit.standin.refuse_connections()
    with pytest.raises(GerritUnreachable) as exc:
        GerritSSH(gerrit.settings()).run(["gerrit", "version"])
    assert "closed the connection before SSH" in one_line(exc)


def test_silent_server_times_out_within_the_connect_timeout(gerrit):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)                          # accepts (by the kernel), never speaks
    try:
        began = time.monotonic()
        with pytest.raises(GerritTimeout) as exc:
            GerritSSH(gerrit.settings(port=listener.getsockname()[1], connect_timeout=0.5)
                      ).run(["gerrit", "version"])
        assert time.monotonic() - began < 3
        assert "connecting timed out after 0.5s" in one_line(exc)
    finally:
        listener.close()


def test_a_hanging_command_times_out_within_its_deadline(gerrit):
    gerrit.standin.hold("gerrit version", 30)
    ssh = GerritSSH(gerrit.settings())
    began = time.monotonic()
    with pytest.raises(GerritTimeout) as exc:
        ssh.run(["gerrit", "version"], timeout=0.5)
    assert time.monotonic() - began < 2
    assert one_line(exc).endswith("`gerrit version` timed out after 0.5s")
    gerrit.standin.release()
    assert ssh.run(["gerrit", "version"]).exit_status == 0      # the session still serves


def test_a_frozen_server_times_out_every_step(own_gerrit):
    ssh = GerritSSH(own_gerrit.settings(connect_timeout=0.5))
    ssh.run(["gerrit", "version"])
    own_gerrit.standin.freeze()
    for attempt in range(2):            # the open session, then a new connection
        began = time.monotonic()
        with pytest.raises(GerritTimeout):
            ssh.run(["gerrit", "version"], timeout=0.5)
        assert time.monotonic() - began < 2
    own_gerrit.standin.thaw()
    assert ssh.run(["gerrit", "version"]).exit_status == 0


def test_failed_command_says_its_first_stderr_line(gerrit):
    with pytest.raises(GerritCommandError) as exc:
        GerritSSH(gerrit.settings()).run(["gerrit", "frobnicate", "--now"])
    assert one_line(exc).endswith("`gerrit frobnicate --now` failed (exit 1): "
                                  "fatal: gerrit: frobnicate: not found")
    assert exc.value.exit_status == 1


def test_the_session_is_replaced_after_a_restart(own_gerrit):
    ssh = GerritSSH(own_gerrit.settings())
    ssh.run(["gerrit", "version"])
    own_gerrit.standin.stop()
    own_gerrit.standin.start()
    assert ssh.run(["gerrit", "version"]).exit_status == 0


MESSAGES = ['it\'s "quoted" and \\ back-slashed', "two\nlines\n\nand a blank one",
            "unicode: é ✓ 漢字", "$(rm -rf /) `x` ; && | > *", "  leading and trailing  ",
            "-starts-with-a-dash", "tab\there"]


@pytest.mark.parametrize("message", MESSAGES)
def test_review_arguments_arrive_exactly_as_sent(gerrit, project, message):
    change = gerrit.standin.upload(project, gerrit.users["alice"], {"f": "1"}, "Change", via="api")
    argv = review_command(change.number, change.patchset, labels={"Verified": -1},
                          message=message, tag="autogenerated:gateq:check")
    GerritSSH(gerrit.settings()).run(argv)
    [call] = gerrit.standin.reviews(f"{change.number},{change.patchset}")
    assert call["argv"] == argv[2:]
    assert (call["labels"], call["message"], call["tag"], call["outcome"]) == (
        {"Verified": -1}, message, "autogenerated:gateq:check", "applied")
    comment = gerrit.standin.change(change.number)["comments"][-1]["message"]
    assert comment == f"Patch Set 1: Verified-1\n\n{message}"


def test_empty_arguments_are_refused_before_sending():
    with pytest.raises(ValueError, match="empty argument"):
        command_line(["gerrit", "review", "--message", "", "1,1"])
    assert quote("Verified=+1") == "Verified=+1" and quote("a b") == "'a b'"


def test_commands_run_in_parallel_on_one_session(gerrit):
    gerrit.standin.hold("gerrit version", 0.5)
    ssh = GerritSSH(gerrit.settings())
    results = []
    threads = [threading.Thread(target=lambda: results.append(ssh.run(["gerrit", "version"])))
               for _ in range(4)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 4 and time.monotonic() - began < 1.5
