"""`gateq simulate`: compare gating strategies on a trace under a virtual clock,
over one seed or a range, or write a synthetic trace with --generate. Needs
no gateq.yaml.

User errors raise ValueError with one line ("TRACE:LINE: ..."), which the
CLI prints; nothing here prints a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .compare import Settings, aggregate, compare
from .costs import HELP as COST_HELP
from .costs import Costs, with_costs
from .generate import PRESETS, generate, preset
from .plot import draw, sweep
from .recheck import Recheck
from .report import render
from .strategies import DEFAULT, STRATEGIES, pick
from .trace import Trace, dump_trace, read_trace


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate", help="compare gating strategies on a trace, under a virtual clock",
        description="Run the real scheduler on a trace of changes with simulated merges and "
                    "builds, for each strategy, against a lower bound. See docs/simulator.md.")
    p.add_argument("--trace", metavar="TRACE.jsonl", help="the changes to simulate (JSON lines)")
    p.add_argument("--preset", metavar="PRESET",
                   help=f"simulate a generated trace instead, one per seed: {', '.join(PRESETS)}")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help=f"one of {', '.join(STRATEGIES)}; repeat for several "
                        f"(default: {', '.join(DEFAULT)})")
    p.add_argument("--workers", type=int, metavar="N",
                   help="build slots (default: the trace's meta.workers, else unlimited; 0: unlimited)")
    p.add_argument("--seed", type=int, default=0, help="seed of flakes and of generated traces (default 0)")
    p.add_argument("--seeds", metavar="FIRST-LAST",
                   help="run every seed of the range (or N: seeds 0 to N-1) and print means "
                        "with 95%% confidence intervals")
    p.add_argument("--cost", action="append", default=[], metavar="NAME=SECONDS",
                   help=f"the engine's own work: {', '.join(COST_HELP)} (defaults measured, see docs)")
    p.add_argument("--recheck-minutes", type=float, default=Recheck.minutes, metavar="M",
                   help=f"a developer approves an ejected good change again after M minutes "
                        f"(default {Recheck.minutes:g}; 0: never)")
    p.add_argument("--recheck-rounds", type=int, default=Recheck.rounds, metavar="N",
                   help=f"at most N re-approvals per change (default {Recheck.rounds})")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--plot", metavar="OUT.svg", help="also draw time to land against --plot-against")
    p.add_argument("--plot-against", choices=("load", "failure"), default="load",
                   help="vary the workers (load) or the fraction of bad changes (default: load)")
    p.add_argument("--generate", metavar="PRESET",
                   help=f"write a synthetic trace instead: {', '.join(PRESETS)}")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="with --generate or --preset: override a generator parameter (see docs/simulator.md)")
    p.add_argument("--output", "-o", metavar="FILE", help="with --generate: where to write (default: stdout)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.generate:
        return run_generate(args)
    if bool(args.trace) == bool(args.preset):
        raise ValueError("simulate: give one of --trace TRACE.jsonl or --preset PRESET (or --generate PRESET)")
    if args.trace and args.param:
        raise ValueError("simulate: --param sets a generator parameter: it needs --preset or --generate")
    if args.workers is not None and args.workers < 0:
        raise ValueError("simulate: --workers must be 0 (unlimited) or more")
    strategies = pick(args.strategy)
    settings = settings_from(args)
    seeds = seed_range(args.seeds) if args.seeds else [args.seed]
    load = trace_source(args)
    results = [compare(load(seed), strategies, settings, seed) for seed in seeds]
    result = aggregate(results) if args.seeds else results[0]
    print(json.dumps(result, indent=2) if args.json else render(result))
    if args.plot:
        trace = load(seeds[0])
        points = sweep(trace, strategies, args.plot_against, seeds[0], settings)
        draw(points, f"{trace.path}: {len(trace.changes)} changes", args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def settings_from(args: argparse.Namespace) -> Settings:
    if args.recheck_minutes < 0 or args.recheck_rounds < 0:
        raise ValueError("simulate: --recheck-minutes and --recheck-rounds must be 0 or more")
    return Settings(args.workers, with_costs(Costs(), pairs(args.cost, "--cost")),
                    Recheck(args.recheck_minutes, args.recheck_rounds))


def trace_source(args: argparse.Namespace):
    """seed -> the trace to simulate: the file's, or the preset's generated with that seed."""
    if args.trace:
        trace = read_trace(args.trace)
        return lambda seed: trace
    params = preset(args.preset, pairs(args.param, "--param"))

    def generated(seed: int) -> Trace:
        return generate(params, seed, args.preset)
    return generated


def seed_range(text: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        seeds = list(range(int(first), int(last) + 1)) if sep else list(range(int(first)))
    except ValueError:
        seeds = []
    if not seeds or seeds[0] < 0:
        raise ValueError(f"simulate: --seeds '{text}' is not FIRST-LAST (e.g. 0-29) or a count N >= 1")
    return seeds


def pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"simulate: {option} '{item}' is not NAME=VALUE")
        out[name] = value
    return out


def run_generate(args: argparse.Namespace) -> int:
    trace = generate(preset(args.generate, pairs(args.param, "--param")), args.seed, args.generate)
    text = dump_trace(trace)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ValueError(f"{args.output}: cannot write: {exc.strerror}") from None
    print(f"wrote {args.output}: {len(trace.changes)} changes, "
          f"workers {trace.meta['workers']} for load {trace.meta['generator']['load']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (the same as `gateq simulate`)."""
    parser = argparse.ArgumentParser(prog="gateq")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as exc:
        print(f"gateq: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
