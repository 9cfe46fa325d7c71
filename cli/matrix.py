"""``streamproof matrix --adapter A --adapter B ... [--cassettes DIR ...] --out DIR``

Runs ``streamproof check`` for each adapter (a short name: ``reference``, ``sdk-helpers``,
``langchain``, ...; or ``MODULE:FACTORY``) over each cassette set (default: the bundled
cassettes), and writes ``matrix.html``, ``matrix.md`` and ``matrix.json`` to ``--out``: adapter ×
set × provider/API × check, with a column per fault kind. A set other than the bundled one without
``DIR/__snapshots__`` gets snapshots made first by the reference. Exit codes as ``check``'s: 0 every
check passed, 1 some failed, 2 a usage error or nothing was checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ..conformance.matrix import (
    CassetteSet,
    Run,
    as_json,
    cassette_sets,
    failures,
    markdown,
    needs_reference_snapshots,
    render_html,
    run_check,
)
from ..conformance.plugin import bundled_cassettes
from ..conformance.protocol import AdapterLoadError, load_adapter


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adapter",
        dest="adapters",
        action="append",
        required=True,
        metavar="NAME|MODULE:FACTORY",
        help="an adapter to run (repeatable): reference, sdk-helpers, pydantic-ai, langchain, litellm, "
        "any-llm, or MODULE:FACTORY",
    )
    parser.add_argument(
        "--cassettes",
        dest="folders",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="a cassette set (repeatable; default: the bundled cassettes)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="where matrix.html, .md and .json go"
    )


def _fail(message: str) -> int:
    print(f"streamproof matrix: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    folders: list[Path] = args.folders or [bundled_cassettes()]
    for folder in folders:
        if not folder.is_dir():
            return _fail(f"--cassettes {folder}: no such folder")
    for adapter in args.adapters:
        try:
            load_adapter(adapter)  # refuse a bad name before minutes of runs
        except AdapterLoadError as exc:
            return _fail(str(exc))
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="streamproof-matrix-") as scratch_name:
        scratch = Path(scratch_name)
        sets: list[CassetteSet] = []
        for cassettes in cassette_sets(folders):
            if needs_reference_snapshots(cassettes):
                cassettes = replace(cassettes, snapshots=scratch / f"snapshots-{cassettes.name}")
                print(f"{cassettes.name}: snapshots made by the reference first", file=sys.stderr)
                made = run_check("reference", cassettes, scratch, update=True)
                if made.exit_code != 0:
                    return _fail(
                        f"the reference could not make the snapshots of {cassettes.folder} "
                        f"(streamproof check --snapshot-update exited {made.exit_code})"
                    )
            sets.append(cassettes)
        for adapter in args.adapters:
            for cassettes in sets:
                done = run_check(adapter, cassettes, scratch)
                failed = sum(record.status in ("fail", "error") for record in done.records)
                print(
                    f"{adapter} · {cassettes.name}: {len(done.records)} checks, {failed} failed "
                    f"(exit {done.exit_code})",
                    file=sys.stderr,
                )
                runs.append(done)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "matrix.md").write_text(markdown(runs), encoding="utf-8")
    (args.out / "matrix.json").write_text(json.dumps(as_json(runs), indent=1), encoding="utf-8")
    (args.out / "matrix.html").write_text(render_html(runs), encoding="utf-8")
    print(f"wrote {args.out / 'matrix.html'}, matrix.md, matrix.json", file=sys.stderr)
    if failures(runs) or any(run.exit_code == 1 for run in runs):
        return 1
    if not any(record.status != "skip" for run in runs for record in run.records):
        return _fail("nothing was checked: no run judged any check")
    return 0
