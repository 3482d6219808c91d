"""The stream-events reader against the stand-in: events as gateq sees
them, and a link that drops, refuses, restarts or freezes."""
import json

from gateq.drivers.gerrit import Backoff, ChangeStatus, EventKind, LinkState
from gerrit.fixtures import (EventLog, gerrit, gerrit_site, own_gerrit, project, reader_for,  # noqa: F401
                             session_keys, stream)
from gerrit.standin import wait_for


def state_is(reader, state, timeout=10):
    return wait_for(lambda: reader.status() if reader.status().state is state else None,
                    timeout, f"the stream to be {state.value}")


def comment_on(number):
    return lambda e: e.kind is EventKind.COMMENT_ADDED and e.change.number == number


def test_comment_added_arrives_with_its_approvals(gerrit, project, stream):
    reader, log = stream
    alice = gerrit.users["alice"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "Fix the thing", via="api")
    gerrit.standin.review(change.number, alice, {"Code-Review": 2}, "Looks right")
    event = log.wait(comment_on(change.number))
    assert event.actor.username == "alice"
    assert event.comment == "Patch Set 1: Code-Review+2\n\nLooks right"
    assert [(a.label, a.value, a.old_value) for a in event.approvals] == [
        ("Code-Review", 2, 0), ("Verified", 0, None), ("Workflow", 0, None)]
    assert (event.change.project, event.change.branch, event.change.status) == (
        project, "main", ChangeStatus.NEW)
    assert event.change.url == f"http://review.example.org/c/{project}/+/{change.number}"
    assert (event.patchset.number, event.patchset.revision, event.patchset.ref) == (
        1, change.revision, change.ref)
    assert reader.status().events >= 2            # patchset-created came first


def test_each_change_event_kind_is_parsed(gerrit, project, stream):
    reader, log = stream
    alice = gerrit.users["alice"]
    change = gerrit.standin.upload(project, alice, {"f": "1"}, "A change", via="api")
    created = log.wait(lambda e: e.kind is EventKind.PATCHSET_CREATED
                       and e.change.number == change.number)
    assert created.actor.username == "alice" and created.patchset.number == 1
    gerrit.standin.set_wip(change.number, alice)
    assert log.wait(lambda e: e.kind is EventKind.WIP_STATE_CHANGED).change.wip is True
    gerrit.standin.abandon(change.number, alice, "not needed")
    abandoned = log.wait(lambda e: e.kind is EventKind.CHANGE_ABANDONED)
    assert (abandoned.reason, abandoned.change.status) == ("not needed", ChangeStatus.ABANDONED)
    gerrit.standin.restore(change.number, alice, "needed after all")
    assert log.wait(lambda e: e.kind is EventKind.CHANGE_RESTORED).reason == "needed after all"
    tip = gerrit.standin.push_branch(project, alice, {"g": "2"}, "Outside gateq\n")
    pushed = log.wait(lambda e: e.kind is EventKind.REF_UPDATED and e.ref_update.new_rev == tip)
    assert (pushed.ref_update.branch, pushed.project, pushed.actor.username) == (
        "main", project, "alice")


def retry_delays(reader, count):
    """The delays the reader announced for its first `count` failures."""
    seen = {}

    def collect():
        status = reader.status()
        if status.state is LinkState.DOWN and status.retry_at is not None:
            seen.setdefault(status.failures, round(status.retry_at - status.since, 2))
        return [seen[n] for n in sorted(seen)] if len(seen) >= count else None
    return wait_for(collect, 15, f"{count} failed attempts", step=0.01)


def test_a_dropped_stream_reconnects_with_backoff_and_misses_what_was_sent_meanwhile(
        gerrit, project):
    log = EventLog()
    reader = reader_for(gerrit, log, backoff=Backoff(initial=0.2, maximum=0.8, jitter=0))
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the first connection")
        alice = gerrit.users["alice"]
        missed = gerrit.standin.upload(project, alice, {"f": "1"}, "Missed", via="api")
        seen = gerrit.standin.upload(project, alice, {"g": "1"}, "Seen", via="api")
        log.wait(lambda e: e.kind is EventKind.PATCHSET_CREATED and e.change.number == seen.number)
        gerrit.standin.refuse_connections()
        assert gerrit.standin.drop_streams() == 1
        assert "the server closed the connection" in state_is(reader, LinkState.DOWN).last_error
        gerrit.standin.review(missed.number, alice, {"Code-Review": 1})   # nobody listens
        assert retry_delays(reader, 4) == [0.2, 0.4, 0.8, 0.8]            # doubling, capped
        assert "before SSH was set up" in reader.status().last_error
        gerrit.standin.release()
        assert state_is(reader, LinkState.UP).connects == 2
        wait_for(lambda: log.connects == 2, 10, "the on-connect hook to run again")
        gerrit.standin.review(seen.number, alice, {"Code-Review": 1})
        log.wait(comment_on(seen.number))
        assert not [e for e in log.drain() if comment_on(missed.number)(e)]
    finally:
        reader.stop()


def test_a_restarted_server_is_reconnected(own_gerrit):
    log = EventLog()
    reader = reader_for(own_gerrit, log)
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the first connection")
        own_gerrit.standin.stop()
        state_is(reader, LinkState.DOWN)
        own_gerrit.standin.start()
        own_gerrit.standin.wait_for_streams(1, timeout=15)     # the new server sees the reader
        assert log.connects >= 2
        own_gerrit.standin.create_project("after")
        change = own_gerrit.standin.upload("after", own_gerrit.users["alice"], {"f": "1"}, "New",
                                           via="api")
        log.wait(lambda e: e.kind is EventKind.PATCHSET_CREATED and e.change.number == change.number)
        assert reader.status().state is LinkState.UP
    finally:
        reader.stop()


def test_a_frozen_server_is_noticed_by_the_probe(own_gerrit):
    log = EventLog()
    reader = reader_for(own_gerrit, log, idle_probe=0.5, probe_timeout=0.5)
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the first connection")
        own_gerrit.standin.freeze()                 # TCP stays up; nothing answers
        down = state_is(reader, LinkState.DOWN, timeout=5)
        assert down.last_error.endswith("silent for 0.5s and no answer to a probe within 0.5s")
        own_gerrit.standin.thaw()
        wait_for(lambda: log.connects == 2, 15, "the thawed server to be reconnected")
    finally:
        reader.stop()


def test_malformed_lines_are_reported_and_reading_goes_on(gerrit, project):
    log, reported = EventLog(), []
    reader = reader_for(gerrit, log, on_malformed=reported.append)
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the connection")
        gerrit.standin.inject('{"type": "comment-added", "change": {"number": "twelve"}}')
        gerrit.standin.inject("this is not JSON")
        gerrit.standin.inject(json.dumps({"type": "reviewer-added", "change": {"number": 1}}))
        change = gerrit.standin.upload(project, gerrit.users["alice"], {"f": "1"}, "After", via="api")
        log.wait(lambda e: e.kind is EventKind.PATCHSET_CREATED and e.change.number == change.number)
        assert reader.status().malformed == 2 and len(reported) == 2
        assert all("\n" not in line for line in reported)
        assert "comment-added: change.number: expected an integer, got 'twelve'" in reported[0]
        assert "not JSON" in reported[1]
        assert reader.status().state is LinkState.UP and log.connects == 1
    finally:
        reader.stop()


def test_a_failing_event_handler_makes_the_reader_reconnect(gerrit, project):
    calls = []

    def handler(event):
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("journal is full")
    log = EventLog()
    reader = reader_for(gerrit, log, on_event=handler)
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the connection")
        gerrit.standin.upload(project, gerrit.users["alice"], {"f": "1"}, "One", via="api")
        wait_for(lambda: log.connects == 2, 10, "a reconnection after the handler failed")
        assert "event handler failed: RuntimeError: journal is full" in reader.status().last_error
    finally:
        reader.stop()


def test_the_reader_subscribes_to_the_kinds_it_is_given(gerrit, project):
    log = EventLog()
    reader = reader_for(gerrit, log, kinds=[EventKind.COMMENT_ADDED])
    reader.start()
    try:
        wait_for(lambda: log.connects == 1, 10, "the connection")
        alice = gerrit.users["alice"]
        change = gerrit.standin.upload(project, alice, {"f": "1"}, "Quiet", via="api")
        gerrit.standin.review(change.number, alice, message="Only this is heard")
        log.wait(comment_on(change.number))
        assert {e.kind for e in log.drain()} == {EventKind.COMMENT_ADDED}
    finally:
        reader.stop()


def test_stop_ends_the_thread_and_the_session(gerrit):
    log = EventLog()
    reader = reader_for(gerrit, log)
    reader.start()
    wait_for(lambda: log.connects == 1, 10, "the connection")
    gerrit.standin.wait_for_streams(1)
    reader.stop()
    assert reader.status().state is LinkState.STOPPED
    gerrit.standin.wait_for_streams(0)


def test_backoff_grows_with_jitter_and_is_capped():
    import random
    backoff = Backoff(initial=1, maximum=10, factor=2, jitter=0.5, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 10, 10, 10, 10]
    assert all(c * 0.5 <= d <= c for d, c in zip(delays, ceilings))
    assert len(set(delays)) == len(delays)          # jittered
    backoff.reset()
    assert backoff.next_delay() <= 1
