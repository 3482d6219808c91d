"""What a pipeline says on the review systems: a report per change and
reporter connection, queued in the outbox (gateq/outbox.py) in the same
transaction as the result it tells, so it is neither lost nor sent twice.

Which reporters: `success:` for a change merged or succeeded, `failure:`
for one that failed, conflicted or lost its commit or branch; a change not
enqueued or dequeued gets the failure reporters' connections, without
votes (what it says is not a verdict on the code). A change is reported
only on its own connection, and only where that connection reports (the
git driver does not: its results stay in the store). The votes never
submit: `submit: true` lands the change, through the lander.
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..builds import change_number, ref_number
from ..config.model import Config, Reporter
from ..drivers import messages
from ..drivers.records import ChangeRef, Report
from .. import outbox

WITHOUT_VOTES = frozenset({"dequeued", "not-enqueued"})     # results, as stored
SUCCESS = frozenset({"merged", "succeeded"})


class Reports:
    def __init__(self, config: Config, reporting: frozenset[str],
                 change_url: Callable[[str, str], "str | None"],
                 log_location: Callable[[str], str]) -> None:
        self.config = config
        self.reporting = reporting              # the connections that have a reporter
        self.change_url = change_url
        self.log_location = log_location

    def for_result(self, record: dict) -> list[tuple[str, Report]]:
        """(outbox key, report) of each reporter that tells this result."""
        pipeline = self.config.layout.pipelines.get(record["pipeline"])
        project = self.config.layout.projects.get(record["project"])
        if pipeline is None or project is None:
            return []
        quiet = record["result"] in WITHOUT_VOTES
        reporters = pipeline.success if record["result"] in SUCCESS else pipeline.failure
        message = messages.result_message(record, self.log_location)
        return [(f"item {record['item']} result {r.connection}",
                 self.report(r, record["project"], record["change"], record["revision"],
                             record["pipeline"], message, () if quiet else r.labels,
                             record.get("number"), record.get("patchset"), record.get("url")))
                for r in self.mine(reporters, project.connection)]

    def for_start(self, item: int, pipeline: str, changes: Sequence) -> list[tuple[str, Report]]:
        spec = self.config.layout.pipelines.get(pipeline)
        if spec is None:
            return []
        out = []
        for change in changes:
            project = self.config.layout.projects.get(change.project)
            if project is None:
                continue
            jobs = list(project.pipelines.get(pipeline, ()))
            number, patchset = change_number(change)
            out += [(f"item {item} start {change.project}:{change.ref} {r.connection}",
                     self.report(r, change.project, change.ref, change.revision, pipeline,
                                 messages.start_message(pipeline, jobs), r.labels, number,
                                 patchset, change.url))
                    for r in self.mine(spec.start, project.connection)]
        return out

    def mine(self, reporters: Sequence[Reporter], connection: str) -> list[Reporter]:
        return [r for r in reporters if r.connection == connection and connection in self.reporting]

    def report(self, reporter: Reporter, project: str, ref: str, revision: str, pipeline: str,
               message: str, labels, number: int | None, patchset: int | None,
               url: str | None) -> Report:
        if number is None:
            number, patchset = ref_number(ref)
        change = ChangeRef(ref, revision, number, patchset, url or self.change_url(project, ref))
        return Report(outbox.new_id(), reporter.connection, project, change, pipeline, message,
                      tuple(labels), submit=False)

