"""Text renderings of the status snapshot and of results, for people."""
from __future__ import annotations

import time


def render_status(status: dict) -> str:
    lines = []
    for pipeline in status["pipelines"]:
        lines.append(f"pipeline {pipeline['name']} ({pipeline['manager']})")
        if not pipeline["queues"]:
            lines.append("  (empty)")
        for queue in pipeline["queues"]:
            lines.append(f"  queue {queue['name']} (window {queue['window']})")
            for item in queue["items"]:
                flags = [item["merge"]] + (["landing"] if item["landing"] else []) + (
                    [f"failing: {item['failing']}"] if item["failing"] else [])
                lines.append(f"    #{item['item']} {item['project']}:{item['change']} -> "
                             f"{item['branch']}  on {item['based_on']}  [{', '.join(flags)}]")
                jobs = "  ".join(f"{j['name']}: {j['state']}" for j in item["jobs"])
                if jobs:
                    lines.append(f"        {jobs}")
    lines.append(f"running builds: {status.get('running_builds', 0)}; "
                 f"events waiting for the engine: {status.get('pending_events', 0)}")
    return "\n".join(lines)


def render_results(results: list[dict]) -> str:
    if not results:
        return "no finished items"
    lines = []
    for r in results:
        when = time.strftime("%H:%M:%S", time.localtime(r["finished_at"]))
        commit = f" {r['commit'][:12]}" if r.get("commit") else ""
        reason = f": {r['reason']}" if r.get("reason") else ""
        lines.append(f"{when} #{r['item']} {r['pipeline']} {r['project']}:{r['change']} -> "
                     f"{r['branch']} {r['result']}{commit}{reason}")
        jobs = "  ".join(f"{j['name']}: {j['result']}" for j in r["jobs"])
        if jobs:
            lines.append(f"    {jobs}")
    return "\n".join(lines)
