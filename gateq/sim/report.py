"""The text table of `gateq simulate`: one column per strategy, the bound first.

A figure compared with the bound has a row below it with the ratio (the
strategy's over the bound's, on the changes it landed). Over several seeds
every cell is a mean with its 95% confidence interval, `mean ± half`.
"""
from __future__ import annotations

ROWS = (
    ("landed", "changes landed", False),
    ("landed_good_pct", "good changes landed (%)", False),
    ("land_mean", "time to land, mean (min)", True),
    ("land_p50", "time to land, p50 (min)", True),
    ("land_p95", "time to land, p95 (min)", True),
    ("reject_mean", "time to rejection, mean (min)", False),
    ("reject_p95", "time to rejection, p95 (min)", False),
    ("job_minutes_per_landed", "job-minutes per landed change", False),
    ("wasted_job_minutes", "wasted job-minutes", False),
    ("wasted_pct", "  as % of all job-minutes", False),
    ("reset_job_minutes", "  of which discarded by resets", False),
    ("retried_job_minutes", "  of which failed runs retried", False),
    ("wrongly_rejected", "good changes not landed", False),
    ("rechecks", "rechecks (re-approvals)", False),
    ("snapshots", "snapshots published", False),
    ("snapshots_disagreeing", "  disagreeing with git", False),
)


def cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):                      # an interval over seeds
        return f"{value['mean']:.{digits}f} ± {value['ci95']:.{digits}f}"
    return f"{value:g}" if isinstance(value, int) else f"{value:.{digits}f}"


def columns(result: dict) -> dict[str, dict]:
    out = {key.replace("_", "-"): figures for key, figures in result.items() if key.startswith("bound")}
    return {**out, **result["strategies"]}


def table(result: dict) -> list[list[str]]:
    cols = columns(result)
    rows = [["", *cols]]
    for key, label, compared in ROWS:
        rows.append([label, *(cell(c.get(key)) for c in cols.values())])
        if compared:
            rows.append(["  over the bound", *("" if name.startswith("bound") else
                                                cell(c["vs_bound"].get(key), 2)
                                                for name, c in cols.items())])
    return rows


def render(result: dict) -> str:
    rows = table(result)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    if "seeds" in result:
        seeds = result["seeds"]
        head = (f"{result['trace']}: {cell(result['changes'])} changes, workers {result['workers']}, "
                f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}): mean ± 95% interval")
    else:
        head = f"{result['trace']}: {result['changes']} changes, workers {result['workers']}, seed {result['seed']}"
    lines = [head]
    lines += ["  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])])
              for r in rows]
    lines.append("")
    lines += [f"{name}: {s['summary']}" for name, s in result["strategies"].items()]
    lines.append("bound: no strategy lands a good change sooner (docs/simulator.md gives the proof)")
    if "bound_post" in result:
        lines.append("bound-post: the same without the export job, which zuul-post runs after "
                     "landing; zuul-post's ratios are over it")
    for key in result:
        for kind, what in (("_batch", "changes"), ("_series", "changes of one series")):
            if kind in key:
                lines.append(f"{key.replace('_', '-')}: the same for strategies testing up to "
                             f"{key.rsplit(kind[1:], 1)[1]} {what} as one item (a build serves "
                             "them all); their ratios are over it")
    return "\n".join(lines)
