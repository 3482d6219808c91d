"""`gateq simulate`: compare gating strategies on a trace under a virtual clock,
or write a synthetic trace with --generate. Needs no gateq.yaml.

User errors raise ValueError with one line ("TRACE:LINE: ..."), which the
CLI prints; nothing here prints a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .compare import compare
from .generate import PRESETS, generate, preset
from .plot import draw, sweep
from .report import render
from .strategies import STRATEGIES, pick
from .trace import dump_trace, read_trace


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate", help="compare gating strategies on a trace, under a virtual clock",
        description="Run the real scheduler on a trace of changes with simulated merges and "
                    "builds, for each strategy and a hindsight oracle. See docs/simulator.md.")
    p.add_argument("--trace", metavar="TRACE.jsonl", help="the changes to simulate (JSON lines)")
    p.add_argument("--strategy", action="append", metavar="NAME",
                   help=f"one of {', '.join(STRATEGIES)}; repeat for several (default: all)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="build slots (default: the trace's meta.workers, else unlimited; 0: unlimited)")
    p.add_argument("--seed", type=int, default=0, help="seed of flakes and of --generate (default 0)")
    p.add_argument("--merge-seconds", type=float, default=0.0, metavar="S",
                   help="virtual time one merge takes (default 0: instant)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--plot", metavar="OUT.svg", help="also draw time to land against --plot-against")
    p.add_argument("--plot-against", choices=("load", "failure"), default="load",
                   help="vary the workers (load) or the fraction of bad changes (default: load)")
    p.add_argument("--generate", metavar="PRESET",
                   help=f"write a synthetic trace instead: {', '.join(PRESETS)}")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="with --generate: override a generator parameter (see docs/simulator.md)")
    p.add_argument("--output", "-o", metavar="FILE", help="with --generate: where to write (default: stdout)")
    return p


def run(args: argparse.Namespace) -> int:
    if args.generate:
        return run_generate(args)
    if not args.trace:
        raise ValueError("simulate: --trace TRACE.jsonl is required (or --generate PRESET)")
    if args.workers is not None and args.workers < 0:
        raise ValueError("simulate: --workers must be 0 (unlimited) or more")
    strategies = pick(args.strategy)
    trace = read_trace(args.trace)
    result = compare(trace, strategies, args.workers, args.seed, args.merge_seconds)
    print(json.dumps(result, indent=2) if args.json else render(result))
    if args.plot:
        points = sweep(trace, strategies, args.plot_against, args.seed, args.workers, args.merge_seconds)
        draw(points, f"{args.trace}: {len(trace.changes)} changes", args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def run_generate(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"simulate: --param '{item}' is not NAME=VALUE")
        overrides[name] = value
    trace = generate(preset(args.generate, overrides), args.seed, args.generate)
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
    """Stand-alone entry until the lead wires `simulate` into gateq.cli."""
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
