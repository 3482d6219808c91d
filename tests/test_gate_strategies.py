"""The gate's strategy settings, end to end: real git, real job processes,
the CLI. A job retried (`attempts`) lands its change; a batch (`batch-size`)
is merged change by change, built once, lands every branch it changes and
publishes once, and each of its changes gets its own result; a batch that
fails is split until the bad change is alone; a landing of several
branches cut short is made whole."""
import json
import os

import pytest

from gate_fixture import Gate, git
from gateq.core.actions import Move
from gateq.git.land import finish_interrupted, write_journal

# Fails the first time it runs for a change, passes after: a flaky job.
FLAKY_JOB = """\
#!/bin/sh
set -eu
mark="$MARKS/$GATEQ_CHANGE"
if [ ! -e "$mark" ]; then : > "$mark"; echo "flaked"; exit 1; fi
echo "passed"
"""

# Writes one page per change it tests (a batch tests several).
EXPORT_JOB = """\
#!/bin/sh
set -eu
mkdir -p "$GATEQ_ARTIFACTS/pages"
for change in $GATEQ_ITEM_CHANGES; do
    echo "$change" > "$GATEQ_ARTIFACTS/pages/$(echo "$change" | tr : -).html"
done
echo "$GATEQ_ITEM_CHANGES" >> "$MARKS/tested"
"""


def gate_with(tmp_path, settings: str, **kw) -> Gate:
    """A Gate whose gate pipeline has `settings` too (YAML lines of the pipeline)."""
    g = Gate(tmp_path, **kw)
    path = os.path.join(g.config, "layouts", "test.yaml")
    with open(path) as f:
        text = f.read()
    head, sep, tail = text.partition("    window: ")
    value, newline, rest = tail.partition("\n")
    extra = "".join(f"    {line}\n" for line in settings.splitlines())
    with open(path, "w") as f:
        f.write(head + sep + value + newline + extra + rest)
    return g


def result_of(g: Gate, ref: str) -> dict:
    return next(r for r in g.results() if r["change"] == ref)


@pytest.mark.parametrize("attempts, expected", [(2, "merged"), (1, "failed")])
def test_a_flaky_job_with_attempts_left_runs_again_and_its_change_lands(tmp_path, attempts, expected):
    marks = tmp_path / "marks"
    marks.mkdir()
    g = Gate(tmp_path, project_jobs=("flaky",),
             jobs=f"- job: {{name: flaky, run: jobs/flaky.sh, attempts: {attempts}, "
                  f"vars: {{MARKS: {marks}}}}}\n")
    g.write_job("flaky.sh", FLAKY_JOB)
    g.change("nova", "fix")
    g.approve("nova", "fix")
    g.run()
    fix = result_of(g, "fix")
    assert fix["result"] == expected
    job = fix["jobs"][0]
    assert job["attempts"] == attempts
    if attempts == 2:
        assert (job["build"], job["retried"]) == (f"{fix['item']}-0-flaky~2", [f"{fix['item']}-0-flaky"])
        logs = os.path.join(g.config, "state", "logs")
        assert "flaked" in open(os.path.join(logs, f"{job['retried'][0]}.log")).read()
        assert "passed" in open(os.path.join(logs, f"{job['build']}.log")).read()
        assert g.landed() == ["fix"]


def test_a_batch_is_built_once_lands_both_projects_and_reports_each_change(tmp_path):
    g = gate_with(tmp_path, "batch-size: 3", projects=("nova", "ceilometer"), slots=1)
    g.change("nova", "a", {"a.txt": "a\n"})
    g.change("nova", "b", {"b.txt": "b\n"})
    g.change("ceilometer", "c", {"c.txt": "c\n"})
    for project, ref in (("nova", "a"), ("nova", "b"), ("ceilometer", "c")):
        g.approve(project, ref)
    rc, _, err = g.gateq("run", "--until-idle")  # all three are queued before a starts: one batch
    assert rc == 0 and "item 3 ceilometer:c" in err and ", in the batch of item 1" in err
    results = {r["change"]: r for r in g.results()}
    assert {ref: r["result"] for ref, r in results.items()} == {"a": "merged", "b": "merged", "c": "merged"}
    assert len({r["item"] for r in results.values()}) == 3
    assert results["b"]["batch"] == ["nova:a", "ceilometer:c"]
    assert len({json.dumps(r["jobs"]) for r in results.values()}) == 1     # one build for all three
    assert g.seen_chains("c", "ceilometer") == ["nova:a nova:b ceilometer:c"]
    env = open(os.path.join(g.seen, results["a"]["jobs"][0]["build"], "env")).read()
    assert "GATEQ_ITEM_CHANGES=nova:a nova:b ceilometer:c" in env
    assert g.landed("nova") == ["a", "b"] and g.landed("ceilometer") == ["c"]
    assert results["a"]["commit"] == results["b"]["commit"] == g.tip("nova")
    assert results["c"]["commit"] == g.tip("ceilometer")
    assert not os.path.exists(os.path.join(g.config, "state", "landing.json"))


def test_a_failing_batch_is_split_until_the_bad_change_is_alone(tmp_path):
    g = gate_with(tmp_path, "batch-size: 3", slots=1)
    g.change("nova", "a", {"a.txt": "a\n"})
    g.change("nova", "b", {"FAIL": "1"})
    g.change("nova", "c", {"c.txt": "c\n"})
    for ref in "abc":
        g.approve("nova", ref)
    g.run()
    assert g.outcome() == {"a": "merged", "b": "failed", "c": "merged"}
    assert result_of(g, "b")["batch"] == []                   # ejected alone
    assert g.landed() == ["a", "c"]
    # (builds are named after an item's last change) [a b c] fails, then [a b];
    # [a] passes and lands, [b] fails alone on it; [c] is built on the new tip
    assert g.seen_chains("c") == ["nova:a nova:b nova:c", "nova:c"]
    assert g.seen_chains("b") == ["nova:a nova:b", "nova:a nova:b"]
    assert g.seen_chains("a") == ["nova:a"]


def test_a_batch_publishes_one_snapshot_naming_each_change_and_the_branch_tips(tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    layout = ("- repository: {name: docs, type: files, keep: 5}\n"
              f"- job: {{name: docs, run: jobs/export.sh, export: docs, timeout: 60, "
              f"vars: {{MARKS: {marks}}}}}\n")
    g = gate_with(tmp_path, "batch-size: 2", projects=("nova", "ceilometer"), jobs=layout,
                  project_jobs=("docs",), slots=1)
    g.write_job("export.sh", EXPORT_JOB)
    g.change("nova", "a")
    g.change("ceilometer", "b")
    g.approve("nova", "a")
    g.approve("ceilometer", "b")
    g.run()
    assert g.outcome() == {"a": "merged", "b": "merged"}
    assert open(marks / "tested").read().split("\n")[0] == "nova:a ceilometer:b"
    root = os.path.join(g.config, "publish", "docs", "snapshots")
    assert sorted(os.listdir(root)) == ["1"]
    manifest = json.load(open(os.path.join(root, "1", "manifest.json")))
    assert [(c["project"], c["change"], c["commit"]) for c in manifest["changes"]] == [
        ("nova", "a", g.tip("nova")), ("ceilometer", "b", g.tip("ceilometer"))]
    assert {p["project"]: p["commit"] for p in manifest["projects"]} == {
        "nova": g.tip("nova"), "ceilometer": g.tip("ceilometer")}
    assert sorted(os.listdir(os.path.join(root, "1", "pages"))) == ["ceilometer-b.html", "nova-a.html"]
    assert {r["snapshot"]["docs"] for r in g.results()} == {1}


def two_moves(g: Gate) -> list[Move]:
    """A landing of a change in nova and one in ceilometer, not made yet."""
    moves = []
    for project in ("nova", "ceilometer"):
        new = g.change(project, f"{project}-fix")
        moves.append(Move(project, "main", g.tip(project), new))
    return moves


def test_a_landing_of_two_branches_cut_short_is_finished_at_the_next_start(tmp_path):
    g = Gate(tmp_path, projects=("nova", "ceilometer"))
    nova, ceilometer = two_moves(g)
    journal = str(tmp_path / "landing.json")
    write_journal(journal, [nova, ceilometer])
    git("update-ref", "refs/heads/main", nova.new, nova.old, cwd=g.bare("nova"))   # killed here
    done = finish_interrupted(lambda p: g.bare(p), journal)
    assert done == "finished an interrupted landing of nova/main, ceilometer/main"
    assert (g.tip("nova"), g.tip("ceilometer")) == (nova.new, ceilometer.new)
    assert not os.path.exists(journal)
    assert finish_interrupted(lambda p: g.bare(p), journal) is None


def test_a_landing_whose_second_branch_moved_outside_is_undone_on_the_first(tmp_path):
    g = Gate(tmp_path, projects=("nova", "ceilometer"))
    nova, ceilometer = two_moves(g)
    journal = str(tmp_path / "landing.json")
    write_journal(journal, [nova, ceilometer])
    git("update-ref", "refs/heads/main", nova.new, nova.old, cwd=g.bare("nova"))
    g.commit("ceilometer", {"README": "pushed\n"}, "Pushed outside gateq")
    git("push", "-q", "origin", "HEAD:main", cwd=g.work("ceilometer"))
    pushed = g.tip("ceilometer")
    done = finish_interrupted(lambda p: g.bare(p), journal)
    assert done.startswith("undid an interrupted landing of nova/main, ceilometer/main: ceilometer: "
                           "branch main moved from")
    assert (g.tip("nova"), g.tip("ceilometer")) == (nova.old, pushed)


@pytest.mark.parametrize("attribute, message", [
    ("attempts: 0", "attribute 'attempts': expected an integer >= 1, got 0"),
])
def test_a_bad_attempts_value_is_one_line_naming_the_file_and_line(tmp_path, attribute, message):
    g = Gate(tmp_path, jobs=f"- job: {{name: other, run: jobs/check.sh, {attribute}}}\n")
    rc, out, err = g.gateq("validate")
    assert rc == 1 and out == ""
    line = [n for n, text in enumerate(open(os.path.join(g.config, "layouts", "test.yaml")), 1)
            if "name: other" in text][0]
    assert err.strip() == f"layouts/test.yaml:{line}: job 'other': {message}"


@pytest.mark.parametrize("setting, message", [
    ("batch-size: 0", "attribute 'batch-size': expected an integer >= 1, got 0"),
    ("batch-kind: pairs", "attribute 'batch-kind': expected one of any, series, got 'pairs'"),
])
def test_a_bad_batch_setting_is_one_line_naming_the_file_and_line(tmp_path, setting, message):
    g = gate_with(tmp_path, setting)
    rc, out, err = g.gateq("validate")
    assert rc == 1 and out == ""
    text = open(os.path.join(g.config, "layouts", "test.yaml")).read().splitlines()
    line = next(n for n, t in enumerate(text, 1) if t.strip() == setting)       # the attribute's own line
    assert err.strip() == f"layouts/test.yaml:{line}: pipeline 'gate': {message}"


def test_the_engine_finishes_a_landing_of_two_branches_when_it_starts(tmp_path):
    g = Gate(tmp_path, projects=("nova", "ceilometer"))
    nova, ceilometer = two_moves(g)
    state = os.path.join(g.config, "state")
    os.makedirs(state, exist_ok=True)
    write_journal(os.path.join(state, "landing.json"), [nova, ceilometer])
    rc, out, err = g.gateq("run", "--until-idle")
    assert rc == 0
    assert "finished an interrupted landing of nova/main, ceilometer/main" in err
    assert (g.tip("nova"), g.tip("ceilometer")) == (nova.new, ceilometer.new)


# Fails wherever the tree holds BROKEN (pushed onto main outside gateq);
# notes each run: its build, whether it is a control build, what it tested.
BROKEN_TIP_JOB = """\
#!/bin/sh
set -eu
echo "$GATEQ_BUILD control=$GATEQ_CONTROL changes=$GATEQ_CHANGES" >> "$MARKS/runs"
if [ -f BROKEN ]; then echo "broken"; exit 1; fi
"""


@pytest.mark.parametrize("excuse, expected", [(True, "merged"), (False, "failed")])
def test_a_branch_broken_outside_gateq_excuses_the_failure_it_causes(tmp_path, excuse, expected):
    marks = tmp_path / "marks"
    marks.mkdir()
    g = gate_with(tmp_path, f"excuse-base-failures: {str(excuse).lower()}", project_jobs=("tests",),
                  jobs=f"- job: {{name: tests, run: jobs/tests.sh, vars: {{MARKS: {marks}}}}}\n")
    g.write_job("tests.sh", BROKEN_TIP_JOB)
    g.commit("nova", {"BROKEN": "1"}, "Broken outside gateq")
    git("push", "-q", "origin", "main", cwd=g.work("nova"))
    g.change("nova", "fix", {"fix.txt": "fix\n"})
    g.approve("nova", "fix")
    g.run()
    fix = result_of(g, "fix")
    assert fix["result"] == expected
    runs = open(marks / "runs").read().splitlines()
    if excuse:
        item = fix["item"]
        assert runs == [f"{item}-0-tests control= changes=nova:fix",
                        f"{item}-0-tests@base control=1 changes="]
        assert (fix["jobs"][0]["excused"], fix["jobs"][0]["control"]) == (
            "it fails on the item's base too", f"{item}-0-tests@base")
        assert g.landed() == ["fix"]
    else:
        assert len(runs) == 1 and fix["jobs"][0]["excused"] is None


@pytest.mark.parametrize("setting", ["batch-size: 2", "excuse-base-failures: true"])
def test_strategy_settings_of_an_independent_pipeline_are_refused(tmp_path, setting):
    g = Gate(tmp_path)
    path = os.path.join(g.config, "layouts", "test.yaml")
    text = open(path).read().replace("    manager: independent\n", f"    manager: independent\n    {setting}\n", 1)
    open(path, "w").write(text)
    rc, out, err = g.gateq("validate")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip() == setting)
    attr = setting.split(":")[0]
    assert (rc, out) == (1, "")
    assert err.strip() == (f"layouts/test.yaml:{line}: pipeline 'check': attribute '{attr}': {attr} needs "
                           "manager 'dependent' (an independent pipeline tests each change alone, on the "
                           "branch tips)")
