"""The command line as a user meets it: what each command says, refuses and returns."""
import argparse
import re

import pytest

from gateq.cli import Exit, build_parser
from gate_fixture import Gate, git, logged, not_logged


def one_error(g: Gate, *args: str, status: int = Exit.USAGE) -> str:
    rc, out, err = g.gateq(*args)
    assert rc == status, (rc, out, err)
    assert "Traceback" not in err and len(not_logged(err)) == 1, err
    return not_logged(err)[0]


def test_recording_commands_say_what_they_recorded(tmp_path):
    g = Gate(tmp_path)
    rev = g.change("nova", "fix-1")
    out = g.ok("event", "approved", "--project", "nova", "--change", "fix-1")
    assert out == (f"recorded approved event for nova:fix-1 at {rev[:12]} for branch main: "
                   "enters gate (journal row 1)\n")
    out = g.ok("promote", "--pipeline", "gate", "--project", "nova", "--change", "fix-1")
    assert out == ("recorded promotion of nova:fix-1 (item 1) to the head of its queue in gate "
                   "(journal row 2)\n")
    out = g.ok("dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-1")
    assert out == "recorded dequeue of nova:fix-1 (item 1) from gate (journal row 3)\n"
    out = g.ok("enqueue", "--pipeline", "check", "--project", "nova", "--change", "fix-1")
    assert out == f"recorded enqueue of nova:fix-1 at {rev[:12]} for branch main into check (journal row 4)\n"
    g.run()
    assert g.outcome("gate") == {"fix-1": "dequeued"}
    assert g.outcome("check") == {"fix-1": "succeeded"}


def test_an_event_no_pipeline_triggers_on_says_so(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    with open(f"{g.config}/layouts/test.yaml") as f:
        layout = f.read().replace("    check: {jobs: [check]}\n", "")
    with open(f"{g.config}/layouts/test.yaml", "w") as f:
        f.write(layout)
    out = g.ok("event", "proposed", "--project", "nova", "--change", "fix-1")
    assert "no pipeline of nova triggers on proposed events, so it enqueues nothing" in out


@pytest.mark.parametrize("command", ["dequeue", "promote"])
def test_dequeue_and_promote_of_what_is_not_queued_are_refused(tmp_path, command):
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    g.change("nova", "fix-2")
    g.approve("nova", "fix-1")
    base = (command, "--pipeline", "gate", "--project", "nova")
    assert one_error(g, *base, "--change", "fix-2") == \
        "gateq: error: nova:fix-2 is not in pipeline gate"
    assert one_error(g, *base, "--change", "nope") == \
        "gateq: error: project nova: no ref nope, and no such change is in pipeline gate"
    assert one_error(g, *base, "--change", "fix-1", "--branch", "stable") == \
        "gateq: error: project nova: no branch stable"
    assert one_error(g, command, "--pipeline", "nope", "--project", "nova", "--change", "fix-1") == \
        "gateq: error: unknown pipeline 'nope' (pipelines: check, gate)"
    g.run()                                    # fix-1 landed: not queued any more
    assert one_error(g, *base, "--change", "fix-1") == "gateq: error: nova:fix-1 is not in pipeline gate"


def test_promote_in_an_independent_pipeline_is_refused(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    g.propose("nova", "fix-1")
    assert "is independent" in one_error(g, "promote", "--pipeline", "check", "--project", "nova",
                                         "--change", "fix-1")


def test_a_dequeue_recorded_before_the_engine_reads_the_enqueue_is_accepted(tmp_path):
    """Whether a change is queued is what the journal says, engine running or not."""
    g = Gate(tmp_path)
    g.change("nova", "fix-1")
    g.approve("nova", "fix-1")          # no engine has read it yet
    g.ok("dequeue", "--pipeline", "gate", "--project", "nova", "--change", "fix-1")
    g.run()
    assert g.outcome() == {"fix-1": "dequeued"}


@pytest.mark.parametrize("ref", ["main", "landed~1", "landed", "refs/heads/main"])
def test_a_change_already_on_its_branch_is_refused(tmp_path, ref):
    g = Gate(tmp_path)
    g.change("nova", "landed")
    git("push", "-q", "origin", "landed:main", cwd=g.work("nova"))
    for command in (("event", "approved"), ("enqueue", "--pipeline", "gate")):
        err = one_error(g, *command, "--project", "nova", "--change", ref)
        assert re.fullmatch(rf"gateq: error: project nova: {re.escape(ref)} \([0-9a-f]{{12}}\) is "
                            r"already on branch main: there is nothing to test or land", err), err
    assert g.results() == []


def test_enqueue_into_a_pipeline_the_project_runs_no_jobs_in_is_refused(tmp_path):
    g = Gate(tmp_path, projects=("nova",))
    with open(f"{g.config}/layouts/test.yaml") as f:
        layout = f.read().replace("    check: {jobs: [check]}\n", "")
    with open(f"{g.config}/layouts/test.yaml", "w") as f:
        f.write(layout)
    g.change("nova", "fix-1")
    assert one_error(g, "enqueue", "--pipeline", "check", "--project", "nova", "--change", "fix-1") \
        == ("gateq: error: project nova runs no jobs in pipeline check, so it cannot be "
            "enqueued there")


def test_the_configuration_option_goes_before_or_after_the_command(tmp_path):
    from gateq.cli import main
    g = Gate(tmp_path)
    assert main(["-c", g.config, "validate"]) == 0
    assert main(["validate", "-c", g.config]) == 0
    assert main(["status", "--config", g.config, "--json"]) == 0
    assert main(["--config", "/nonexistent", "validate", "-c", g.config]) == 0   # the later one wins


def test_every_option_has_help_text():
    def walk(parser: argparse.ArgumentParser, path: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action
    undocumented = [f"{path} {action.dest}" for path, action in walk(build_parser(), "gateq")
                    if not action.help]
    assert undocumented == []


def test_usage_errors_are_one_line_with_status_2(tmp_path):
    g = Gate(tmp_path)
    assert one_error(g, "frobnicate").startswith("gateq: error: gateq: argument COMMAND: invalid choice")
    assert one_error(g, "event", "approved", "--project", "nova").startswith(
        "gateq: error: gateq event: the following arguments are required: --change")
    assert one_error(g, "event", "approved", "--project", "keystone", "--change", "x") == \
        "gateq: error: unknown project 'keystone' (not in any layout)"


def test_engine_busy_is_a_state_problem_not_a_usage_error(tmp_path):
    import fcntl
    g = Gate(tmp_path)
    g.ok("status")
    import os
    os.makedirs(f"{g.config}/state", exist_ok=True)
    with open(f"{g.config}/state/engine.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        err = one_error(g, "run", "--until-idle", status=Exit.STATE)
    assert err == f"gateq: error: another gateq engine is running on {g.config}/state"


def test_serve_logs_its_start_each_item_and_its_stop(tmp_path):
    g = Gate(tmp_path)
    g.change("nova", "good")
    g.change("nova", "bad", {"FAIL": "1"})
    g.approve("nova", "good")
    g.approve("nova", "bad")
    rc, _, err = g.gateq("run", "--until-idle")
    assert rc == 0
    messages = logged(err, "INFO")
    assert messages[0] == f"engine starting on {g.config}/state (4 build slots)"
    assert messages[-1] == "engine stopped"
    text = "\n".join(messages)
    assert re.search(r"item 1 nova:good \([0-9a-f]{12}\) enqueued in gate, queue shared", text)
    assert re.search(r"item 2 nova:bad \([0-9a-f]{12}\) enqueued in gate, queue shared", text)
    assert re.search(r"item 1 landed nova:good on nova/main as [0-9a-f]{12}", text)
    assert "item 1 nova:good gate merged" in text
    assert "item 2 nova:bad gate failed: job check failure" in text


def test_validate_names_the_layout_files_it_skipped(tmp_path):
    g = Gate(tmp_path)
    with open(f"{g.config}/layouts/notes.txt", "w") as f:
        f.write("- queue: {name: notes}\n")
    rc, out, err = g.gateq("validate")
    assert rc == 0 and out.endswith("configuration is valid\n")
    assert err == "warning: layouts/notes.txt: skipped: not a .yaml or .yml file\n"
    with open(f"{g.config}/layouts/bad.yaml", "w") as f:
        f.write("- queue: {name: [x]}\n")
    rc, _, err = g.gateq("validate")
    assert rc == 1 and err.splitlines()[-1] == \
        "warning: layouts/notes.txt: skipped: not a .yaml or .yml file"
