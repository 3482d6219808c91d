"""The text table of `gateq simulate`: one column per strategy, the oracle first.

Figures with a ratio show it as (N.NNx the oracle's).
"""
from __future__ import annotations

ROWS = (
    ("landed", "changes landed", False),
    ("rejected", "changes rejected", False),
    ("landed_per_hour", "landed per hour", True),
    ("land_mean", "time to land, mean (min)", True),
    ("land_p50", "time to land, p50 (min)", True),
    ("land_p95", "time to land, p95 (min)", True),
    ("reject_mean", "time to rejection, mean (min)", False),
    ("reject_p95", "time to rejection, p95 (min)", False),
    ("job_minutes_per_landed", "job-minutes per landed change", True),
    ("wasted_job_minutes", "wasted job-minutes", False),
    ("reset_job_minutes", "  of which discarded by resets", False),
    ("wrongly_rejected", "good changes wrongly rejected", False),
)


def cell(value, ratio=None) -> str:
    if value is None:
        return "-"
    text = f"{value:g}" if isinstance(value, int) else f"{value:.1f}"
    return f"{text} ({ratio:.2f}x)" if ratio is not None else text


def render(result: dict) -> str:
    names = ["oracle", *result["strategies"]]
    columns = {"oracle": result["oracle"], **result["strategies"]}
    table = [["", *names]]
    for key, label, with_ratio in ROWS:
        row = [label]
        for name in names:
            ratio = columns[name].get("vs_oracle", {}).get(key) if with_ratio and name != "oracle" else None
            row.append(cell(columns[name].get(key), ratio))
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(names) + 1)]
    lines = [f"{result['trace']}: {result['changes']} changes, workers {result['workers']}, "
             f"seed {result['seed']}"]
    for row in table:
        lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
    lines.append("")
    lines += [f"{name}: {s['summary']}" for name, s in result["strategies"].items()]
    lines.append("oracle: hindsight; each good change runs its jobs once on its final tree")
    return "\n".join(lines)
