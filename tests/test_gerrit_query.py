"""`gerrit query` through gateq's client: the records gateq gets, label and
branch filters, relation chains, pagination and refusals."""
import pytest

from gateq.drivers.gerrit import (ChangeStatus, GerritQueryError, GerritSSH, open_changes,
                                  query_changes)
from gateq.drivers.gerrit.query import parse_output, query_command
from gerrit.fixtures import gerrit, gerrit_site, project, session_keys  # noqa: F401


@pytest.fixture
def ssh(gerrit):
    client = GerritSSH(gerrit.settings())
    yield client
    client.close()


def test_the_change_with_its_current_patchset_and_votes(gerrit, project, ssh):
    alice, bob = gerrit.users["alice"], gerrit.users["bob"]
    first = gerrit.standin.upload(project, alice, {"f": "1"}, "Fix", body="Longer words.",
                                  via="api")
    second = gerrit.standin.new_patchset(first.number, alice, {"f": "2"}, via="api")
    gerrit.standin.review(first.number, alice, {"Code-Review": 2})
    gerrit.standin.review(first.number, bob, {"Workflow": 1})
    [record] = query_changes(ssh, open_changes([project]))
    assert (record.number, record.patchset, record.revision, record.ref) == (
        first.number, 2, second.revision, second.ref)
    assert (record.project, record.branch, record.status, record.wip) == (
        project, "main", ChangeStatus.NEW, False)
    assert sorted((a.label, a.value, a.by.username) for a in record.approvals) == [
        ("Code-Review", 2, "alice"), ("Workflow", 1, "bob")]
    assert record.votes("Code-Review") == (2,) and record.votes("Verified") == ()
    assert record.commit_message == f"Fix\n\nLonger words.\n\nChange-Id: {first.change_id}\n"
    assert record.change_id == first.change_id and record.subject == "Fix"
    assert record.url == f"http://review.example.org/c/{project}/+/{first.number}"
    assert record.submittable is False and record.is_open


def test_label_and_branch_filters(gerrit, project, ssh):
    alice = gerrit.users["alice"]
    gerrit.standin.call("move_branch", project=project, branch="stable",
                        revision=gerrit.standin.branch_tip(project), user="gateq")
    ready = gerrit.standin.upload(project, alice, {"a": "1"}, "Ready", via="api")
    unready = gerrit.standin.upload(project, alice, {"b": "1"}, "Not ready", via="api")
    stable = gerrit.standin.upload(project, alice, {"c": "1"}, "Stable", branch="stable", via="api")
    for number in (ready.number, stable.number):
        gerrit.standin.review(number, alice, {"Code-Review": 2, "Workflow": 1})
    gerrit.standin.review(unready.number, alice, {"Code-Review": 2})

    def numbers(query):
        return sorted(r.number for r in query_changes(ssh, query))
    approved = {"Code-Review": 2, "Workflow": 1}
    assert numbers(open_changes([project], labels=approved)) == [ready.number, stable.number]
    assert numbers(open_changes([project], "main", approved)) == [ready.number]
    assert numbers(open_changes([project], "main")) == [ready.number, unready.number]
    gerrit.standin.abandon(ready.number, alice)
    assert numbers(open_changes([project], "main", approved)) == []


def test_one_query_covers_several_projects(gerrit, ssh):
    alice = gerrit.users["alice"]
    found = []
    for name in ("multi-a", "multi/b"):
        gerrit.standin.create_project(name)
        found.append(gerrit.standin.upload(name, alice, {"f": "1"}, "One", via="api").number)
    records = query_changes(ssh, open_changes(["multi-a", "multi/b"]))
    assert sorted(r.number for r in records) == sorted(found)


def test_relation_chains_show_as_depends_on_and_needed_by(gerrit, project, ssh):
    alice = gerrit.users["alice"]
    base = gerrit.standin.upload(project, alice, {"a": "1"}, "Base", via="api")
    top = gerrit.standin.upload(project, alice, {"b": "1"}, "Top", parent=base.revision, via="api")
    by_number = {r.number: r for r in query_changes(ssh, open_changes([project]))}
    [dependency] = by_number[top.number].depends_on
    assert (dependency.number, dependency.revision, dependency.is_current_patchset) == (
        base.number, base.revision, True)
    assert [d.number for d in by_number[base.number].needed_by] == [top.number]
    gerrit.standin.new_patchset(base.number, alice, {"a": "2"}, via="api")
    [outdated] = query_changes(ssh, f"change:{top.number}")[0].depends_on
    assert outdated.is_current_patchset is False


def test_results_beyond_the_limit_are_fetched_page_by_page(gerrit, project, ssh):
    alice = gerrit.users["alice"]
    made = [gerrit.standin.upload(project, alice, {f"f{i}": "1"}, f"Change {i}", via="api").number
            for i in range(5)]
    gerrit.standin.configure(query_limit=2)
    try:
        first = parse_output(ssh.run(query_command(open_changes([project]))).stdout)
        assert (first.row_count, first.more) == (2, True)
        assert [c.number for c in first.changes] == made[::-1][:2]     # newest first
        last = parse_output(ssh.run(query_command(open_changes([project]), start=4)).stdout)
        assert (last.row_count, last.more) == (1, False)
        assert sorted(r.number for r in query_changes(ssh, open_changes([project]))) == made
    finally:
        gerrit.standin.configure(query_limit=500)


def test_a_query_gerrit_refuses_is_one_line(ssh):
    with pytest.raises(GerritQueryError) as exc:
        query_changes(ssh, "status:open frobnicate:yes")
    assert str(exc.value).endswith("query refused: Unsupported operator frobnicate:yes")


@pytest.mark.parametrize("output, says", [
    ('{"project": "nova", "number": 1}\n', "no stats line"),
    ("garbage\n", "line 1 is not JSON"),
    ('{"number": "x"}\n{"type": "stats", "rowCount": 1}\n', "line 1: number: expected an integer"),
    ('{"project": "nova"}\n{"type": "stats", "rowCount": 1}\n', "a change without a number"),
])
def test_unreadable_query_output_is_an_error(output, says):
    with pytest.raises(GerritQueryError) as exc:
        parse_output(output, "review:29418")
    assert says in str(exc.value)


def test_query_values_with_odd_characters_are_braced():
    assert open_changes(["my project"], "feature x") == \
        "status:open project:{my project} branch:{feature x}"
    with pytest.raises(ValueError):
        open_changes(["nova"], labels={"Code Review": 2})
