"""``streamproof scan PATH...``: report secret-shaped strings in files (exit 1 when any is found).

The patterns are the scrubber's (``harness.scrub``), plus the values of key-like environment
variables, so a cassette that a scrubbed write produced always scans clean. Directories are walked
recursively (``.git`` skipped, each directory once however many symlinks lead to it). Each
finding prints as ``file:line:kind``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from ..harness.scrub import find_secrets

_SKIPPED_DIRECTORIES = frozenset({".git"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or directories (searched recursively)"
    )


def _files(path: Path, seen: set[Path] | None = None) -> Iterator[Path]:
    """Regular files under ``path``. A directory reached twice (symlinks that point back up, or two
    links to one place) is walked once: ``seen`` holds the resolved directories walked so far."""
    seen = set() if seen is None else seen
    if path.is_dir():
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        for child in sorted(path.iterdir()):
            if child.is_dir() and child.name in _SKIPPED_DIRECTORIES:
                continue
            yield from _files(child, seen)
    elif path.is_file():
        yield path


def scan_file(path: Path) -> list[tuple[int, str]]:
    """``(line number, kind)`` for every secret in ``path``, in file order."""
    data = path.read_bytes()
    findings = sorted({(data.count(b"\n", 0, f.offset) + 1, f.kind) for f in find_secrets(data)})
    return findings


def run(args: argparse.Namespace) -> int:
    found = False
    for given in args.paths:
        path = Path(given)
        if not path.exists():
            print(f"{given}: no such file or directory", file=sys.stderr)
            return 2
        for file in _files(path):
            try:
                findings = scan_file(file)
            except OSError as exc:
                print(f"{file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
                return 2
            for line, kind in findings:
                print(f"{file}:{line}:{kind}")
                found = True
    return 1 if found else 0
