"""The text of a report, for any review system: what became of an item,
each job's result, how long it ran and where its log is. Pure: the caller
says where logs are (`log_location(build)`, a path or a URL)."""
from __future__ import annotations

from typing import Callable, Mapping

VERDICTS = {
    "merged": "Build succeeded, merged",
    "succeeded": "Build succeeded",
    "failed": "Build failed",
    "merge-conflict": "Merge failed",
    "change-missing": "Not tested: the change's commit is gone",
    "branch-missing": "Not tested: the target branch is gone",
    "dequeued": "Dequeued",
    "not-enqueued": "Not enqueued",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown time"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def job_line(job: Mapping, log_location: Callable[[str], str]) -> str:
    where = f"log: {log_location(job['build'])}" if job.get("build") else "no build"
    return f"- {job['name']}: {job['result']} in {duration(job.get('duration'))}, {where}"


def result_message(record: Mapping, log_location: Callable[[str], str]) -> str:
    """The report of a finished item (a results record, ResultRecord.as_dict())."""
    verdict = VERDICTS.get(record["result"], record["result"])
    lines = [f"{verdict} ({record['pipeline']} pipeline)."]
    if record.get("reason"):
        lines.append(f"Reason: {record['reason']}")
    jobs = [job_line(job, log_location) for job in record.get("jobs", ())]
    if jobs:
        lines += ["", *jobs]
    if record.get("commit") and record["result"] == "merged":
        lines += ["", f"Landed as {record['commit']} on {record['branch']}."]
    for repository, number in sorted((record.get("snapshot") or {}).items()):
        lines.append(f"Published {repository} snapshot {number}.")
    return "\n".join(lines)


def start_message(pipeline: str, jobs: list[str]) -> str:
    return (f"Starting {pipeline} jobs: {', '.join(jobs)}." if jobs
            else f"Starting {pipeline}.")
