"""``streamproof bench``: run the benchmarks in ``streamproof.benchmarks`` and print their results."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from streamproof.benchmarks import MODULES, Result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["json", "text"], default="text")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (noisier)")
    parser.add_argument("--only", action="append", choices=MODULES, help="run only these benchmark modules")


def run(args: argparse.Namespace) -> int:
    results: list[Result] = []
    failed = []
    for name in args.only or MODULES:
        try:
            module = importlib.import_module(f"streamproof.benchmarks.{name}")
            results.extend(module.run(quick=args.quick))
        except Exception:
            failed.append(name)
            print(f"benchmark {name} failed:\n{traceback.format_exc()}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"results": results}))
    else:
        width = max((len(r["name"]) for r in results), default=10)
        for r in results:
            target = f"  (target {r['target']})" if r.get("target") else ""
            print(f"{r['name']:<{width}}  {r['value']:>12.3f} {r['unit']}{target}")
    return 1 if failed else 0
