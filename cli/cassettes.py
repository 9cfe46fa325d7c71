"""``streamproof cassettes DIR [--max-age-days N] [--format text|json]``: every cassette under DIR
(provider, api, model, recorded_at and age, tokens, size, source) and the orphans: cassettes that no
test used in the last pytest run that used that folder (the plugin notes it in
``.streamproof-used/``). Exit 1 when a cassette cannot be read or is older than ``--max-age-days``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..adapters.errors import CassetteError
from ..conformance.cassette_plugin import USED_FOLDER, age_days
from ..harness.cassette import Cassette, load_cassette
from ..harness.foreign_shapes import cassette_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, metavar="DIR", help="folder of cassettes (searched recursively)")
    parser.add_argument("--max-age-days", type=float, help="flag cassettes recorded longer ago than this")
    parser.add_argument("--format", choices=("text", "json"), default="text")


@dataclass
class Listing:
    path: str
    provider: str | None
    api: str | None
    model: str | None
    recorded_at: str | None
    age_days: float | None
    tokens: int | None
    size: int
    source: str | None
    interactions: int
    orphan: bool | None  # None: no run has noted this folder yet
    too_old: bool


def _tokens(cassette: Cassette) -> int | None:
    """Total tokens: the recorded usage when the metadata has it, else the reference stack's count."""
    usage = cassette.metadata.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    from ..harness.outcome import replay_interaction

    total = None
    for interaction in cassette.interactions:
        if interaction.api == "other":
            continue
        result = replay_interaction(interaction).result
        if result is not None and result.usage.total_tokens is not None:
            total = (total or 0) + result.usage.total_tokens
    return total


def used_in_last_run(folder: Path) -> set[Path] | None:
    """Cassettes under ``folder`` that the last noted run used; None when no run noted any folder."""
    notes = [note for note in folder.rglob(f"{USED_FOLDER}/*.json") if note.is_file()]
    if not notes:
        return None
    used: set[Path] = set()
    for note in notes:
        data = json.loads(note.read_text(encoding="utf-8"))
        used.update(note.parent.parent / name for name in data.get("used", []))
    return used


def listing(path: Path, root: Path, used: set[Path] | None, max_age: float | None) -> Listing:
    cassette = load_cassette(path)
    meta = cassette.metadata
    first = cassette.interactions[0] if cassette.interactions else None
    request = first.request.json() if first is not None else None
    days = age_days(meta.get("recorded_at"))
    age = round(days, 2) if days is not None else None
    return Listing(
        path=path.relative_to(root).as_posix(),
        provider=meta.get("provider") or (first.provider if first else None),
        api=meta.get("api") or (first.api if first else None),
        model=meta.get("model") or (request.get("model") if isinstance(request, dict) else None),
        recorded_at=meta.get("recorded_at"),
        age_days=age,
        tokens=_tokens(cassette),
        size=path.stat().st_size,
        source=meta.get("source") or ("vcrpy" if not meta else None),
        interactions=len(cassette.interactions),
        orphan=None if used is None else path not in used,
        too_old=max_age is not None and age is not None and age > max_age,
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.folder
    if not root.is_dir():
        print(f"streamproof cassettes: {root}: not a folder", file=sys.stderr)
        return 2
    used = used_in_last_run(root)
    listings, exit_code = [], 0
    for path in cassette_files(root):
        try:
            listings.append(listing(path, root, used, args.max_age_days))
        except CassetteError as exc:
            print(f"streamproof cassettes: {exc}", file=sys.stderr)
            exit_code = 1
    if any(item.too_old for item in listings):
        exit_code = 1
    if args.format == "json":
        print(json.dumps({"cassettes": [asdict(item) for item in listings], "runs_noted": used is not None}))
        return exit_code
    for item in listings:
        age = f"{item.age_days:.1f} d" if item.age_days is not None else "age unknown"
        flags = (" ORPHAN" if item.orphan else "") + (" TOO OLD" if item.too_old else "")
        print(
            f"{item.path}  {item.provider}/{item.api}  model={item.model}  recorded_at={item.recorded_at} "
            f"({age})  tokens={item.tokens}  {item.size} bytes  source={item.source}  "
            f"interactions={item.interactions}{flags}"
        )
    orphans = [item.path for item in listings if item.orphan]
    if used is None:
        print("orphans: unknown (no pytest run with the streamproof plugin has used this folder)")
    else:
        print(f"orphans (no test used them in the last run): {', '.join(orphans) or 'none'}")
    return exit_code
