"""The cross-adapter matrix: the battery of ``streamproof check`` for several adapters over one or
more cassette sets, as one table (adapter × set × provider/API × check, ``faults`` one column per
kind). Each run is its own ``streamproof check`` subprocess (a library's imports and patches stay
in it); its verdicts come back through the JUnit XML, whose items carry their records.

A set other than the bundled cassettes with no ``DIR/__snapshots__`` is judged against snapshots
the reference makes first in a scratch folder (a real recording has no shipped snapshot).
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .plugin import bundled_cassettes
from .protocol import ITEMS
from .records import FINAL_PROPERTY, RECORD_PROPERTY, CheckRecord
from .report import _CSS, _STATUSES, _header, _shortened
from .report import versions as adapter_versions

# the distributions whose versions the matrix names, per short name (others: report.versions)
DISTRIBUTIONS = {
    "reference": ("streamproof",),
    "sdk-helpers": ("openai", "anthropic"),
    "pydantic-ai": ("pydantic-ai-slim",),
    "langchain": ("langchain-openai", "langchain-anthropic", "langchain-core"),
    "litellm": ("litellm",),
    "any-llm": ("any-llm-sdk",),
}
# a cell's worst status decides its colour
_WORST = ("error", "fail", "xpass", "xfail", "pass", "skip")
RUN_TIMEOUT_S = 1800  # one adapter over one set: the real recordings take minutes for a slow library


@dataclass(frozen=True)
class CassetteSet:
    name: str  # "bundled", or the folder's name
    folder: Path
    snapshots: Path | None  # None: the check's default (shipped, or DIR/__snapshots__)


@dataclass
class Run:
    """One adapter over one set: the check's exit code and every item's record."""

    adapter: str
    set_name: str
    exit_code: int
    records: list[CheckRecord] = field(default_factory=list)


def cassette_sets(folders: Sequence[Path]) -> list[CassetteSet]:
    """The sets, named by folder (``bundled`` for the shipped cassettes), each name once."""
    sets: list[CassetteSet] = []
    names: Counter[str] = Counter()
    for folder in folders:
        bundled = folder.resolve() == bundled_cassettes().resolve()
        name = "bundled" if bundled else folder.name or str(folder)
        names[name] += 1
        if names[name] > 1:
            name = f"{name}-{names[name]}"
        sets.append(CassetteSet(name, folder, None))
    return sets


def needs_reference_snapshots(cassettes: CassetteSet) -> bool:
    bundled = cassettes.folder.resolve() == bundled_cassettes().resolve()
    return not bundled and not (cassettes.folder / "__snapshots__").is_dir()


def run_check(adapter: str, cassettes: CassetteSet, scratch: Path, *, update: bool = False) -> Run:
    """``streamproof check --adapter ADAPTER`` over the set, in a subprocess of this interpreter."""
    junit = scratch / f"{_slug(adapter)}-{cassettes.name}{'-update' if update else ''}.xml"
    args = [sys.executable, "-m", "streamproof.cli", "check", "--adapter", adapter]
    args += ["--cassettes", str(cassettes.folder)]
    if cassettes.snapshots is not None:
        args += ["--snapshots", str(cassettes.snapshots)]
    if update:
        args.append("--snapshot-update")
    done = subprocess.run(
        [*args, "--junit", str(junit)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    records = read_junit(junit) if junit.exists() else []
    return Run(adapter, cassettes.name, done.returncode, records)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def read_junit(path: Path) -> list[CheckRecord]:
    """The records of one ``streamproof check --junit`` run, each with the status JUnit gives it
    (the record the item carries was written before pytest's own verdict: xfail, skip)."""
    records = []
    for testcase in ET.parse(path).getroot().iter("testcase"):
        carried = [
            prop.get("value", "") for prop in testcase.iter("property") if prop.get("name") == RECORD_PROPERTY
        ]
        if not carried:
            continue  # not one of the battery's items
        record = CheckRecord(**json.loads(carried[-1]))
        record.status, record.message = "pass", ""
        for child in testcase:
            if child.tag in ("failure", "error"):
                record.status = "fail" if child.tag == "failure" else "error"
                record.message = json.loads(carried[-1])["message"] or child.get("message") or ""
            elif child.tag == "skipped":
                xfail = child.get("type") == "pytest.xfail"
                record.status, record.message = ("xfail" if xfail else "skip"), child.get("message") or ""
        final = [
            prop.get("value", "") for prop in testcase.iter("property") if prop.get("name") == FINAL_PROPERTY
        ]
        if final and record.status == "pass":  # JUnit writes a stale gap (XPASS) as a pass
            told = json.loads(final[-1])
            record.status, record.message = str(told["status"]), str(told["message"])
        records.append(record)
    return records


def versions(adapter: str) -> dict[str, str]:
    """The distributions an adapter's verdicts depend on, with their installed versions."""
    if adapter not in DISTRIBUTIONS:
        return adapter_versions(adapter)
    found = {}
    for distribution in DISTRIBUTIONS[adapter]:
        try:
            found[distribution] = version(distribution)
        except PackageNotFoundError:
            found[distribution] = "not installed"
    return found


def cells(runs: Sequence[Run]) -> dict[tuple[str, str, str], dict[str, Counter[str]]]:
    """``(adapter, set, provider/API) -> item -> status counts``, in the runs' order."""
    table: dict[tuple[str, str, str], dict[str, Counter[str]]] = {}
    for run in runs:
        for record in sorted(run.records, key=lambda r: (r.provider, r.api)):
            row = table.setdefault((run.adapter, run.set_name, f"{record.provider}/{record.api}"), {})
            row.setdefault(record.check, Counter())[record.status] += 1
    return table


def columns(runs: Sequence[Run]) -> tuple[str, ...]:
    """The battery's items, then any other (``load``: a cassette that does not load)."""
    seen = {record.check for run in runs for record in run.records}
    return (*ITEMS, *sorted(seen - set(ITEMS)))


def cell_text(counts: Counter[str]) -> str:
    """``36✓ 1✗ 9–``: passed, failed (or crashed), declared gaps, stale gaps, did not apply."""
    if not counts:
        return ""
    parts = [
        (counts["pass"], "✓"),
        (counts["fail"] + counts["error"], "✗"),
        (counts["xfail"], " gap"),
        (counts["xpass"], " stale"),
        (counts["skip"], "–"),
    ]
    return " ".join(f"{number}{mark}" for number, mark in parts if number)


def worst(counts: Counter[str]) -> str:
    return next((status for status in _WORST if counts[status]), "skip")


LEGEND = "N✓ passed, N✗ failed, N gap declared known gap (xfail), N stale gap that passes, N– did not apply (skipped)"


def markdown(runs: Sequence[Run]) -> str:
    """The table as GitHub Markdown, then the versions of each adapter's libraries."""
    items = columns(runs)
    lines = [
        "| adapter | set | provider/API | " + " | ".join(items) + " |",
        "|---|---|---|" + "---|" * len(items),
    ]
    for (adapter, set_name, provider_api), row in cells(runs).items():
        shown = [cell_text(row.get(item, Counter())) for item in items]
        lines.append(f"| {adapter} | {set_name} | {provider_api} | " + " | ".join(shown) + " |")
    lines += ["", LEGEND, ""]
    for adapter in dict.fromkeys(run.adapter for run in runs):
        named = ", ".join(f"{name} {value}" for name, value in versions(adapter).items())
        lines.append(f"- {adapter}: {named}")
    return "\n".join(lines) + "\n"


def as_json(runs: Sequence[Run]) -> dict[str, Any]:
    """Everything: per adapter its versions, and per set its exit code, counts and each item."""
    out: dict[str, Any] = {"items": list(columns(runs)), "adapters": {}}
    table = cells(runs)
    for run in runs:
        adapter = out["adapters"].setdefault(run.adapter, {"versions": versions(run.adapter), "sets": {}})
        adapter["sets"][run.set_name] = {
            "exit_code": run.exit_code,
            "counts": {
                provider_api: {item: dict(counts) for item, counts in row.items()}
                for (name, set_name, provider_api), row in table.items()
                if name == run.adapter and set_name == run.set_name
            },
            "verdicts": [
                {"case": r.case_id, "check": r.check, "status": r.status, "message": r.message}
                for r in sorted(run.records, key=lambda r: (r.case_id, r.check))
            ],
        }
    return out


def failures(runs: Sequence[Run]) -> list[tuple[Run, CheckRecord]]:
    return [
        (run, record)
        for run in runs
        for record in sorted(run.records, key=lambda r: (r.case_id, r.check))
        if record.status in ("fail", "error")
    ]


_MATRIX_CSS = """
table.matrix col.row { width: 230px; }
td.row { white-space: nowrap; font-size: 12px; }
td[data-check] { font-size: 11px; white-space: nowrap; }
"""


def render_html(runs: Sequence[Run]) -> str:
    """One self-contained page (the report's CSS, no script, no URL): a verdict banner, the
    matrix with each adapter a row group, then every failure."""
    items = columns(runs)
    counts = Counter(record.status for run in runs for record in run.records)
    failed = counts["fail"] + counts["error"]
    total = sum(counts.values())
    verdict = f"{failed} of {total} checks failed" if failed else f"all {total} checks passed"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    adapters = list(dict.fromkeys(run.adapter for run in runs))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>streamproof matrix</title>",
        f"<style>{_CSS}{_MATRIX_CSS}</style></head><body>",
        "<h1>streamproof matrix</h1>",
        f'<div class="banner {"failed" if failed else "passed"}">'
        f'<div class="verdict">{"FAIL" if failed else "PASS"}: {html.escape(verdict)}</div>'
        '<div class="counts">' + "".join(f"<span>{counts.get(s, 0)} {s}</span>" for s in _STATUSES) + "</div>"
        f'<div class="meta">{len(adapters)} adapters · {when} · streamproof {html.escape(_own_version())}</div></div>',
        f'<p class="legend">{html.escape(LEGEND)}</p>',
        '<table class="matrix"><colgroup><col class="row">'
        + "<col>" * len(items)
        + "</colgroup><thead><tr><th>set · provider/API</th>"
        + "".join(f"<th>{_header(item)}</th>" for item in items)
        + "</tr></thead>",
    ]
    table = cells(runs)
    for adapter in adapters:
        named = ", ".join(f"{name} {value}" for name, value in versions(adapter).items())
        out.append(
            f'<tbody><tr><th class="group" colspan="{len(items) + 1}">{html.escape(adapter)} '
            f'<span class="meta">({html.escape(named)})</span></th></tr>'
        )
        for (name, set_name, provider_api), row in table.items():
            if name != adapter:
                continue
            out.append(f'<tr><td class="row">{html.escape(set_name)} · {html.escape(provider_api)}</td>')
            for item in items:
                cell = row.get(item, Counter())
                summary = ", ".join(f"{n} {s}" for s, n in sorted(cell.items()))
                out.append(
                    f'<td class="{worst(cell)}" data-check="{html.escape(item)}" title="{html.escape(summary)}">'
                    f"{html.escape(cell_text(cell))}</td>"
                )
            out.append("</tr>")
        out.append("</tbody>")
    out.append("</table>")
    listed = failures(runs)
    if listed:
        out.append(f'<h2>Failures ({len(listed)})</h2><ol class="failures">')
        for run, record in listed:
            out.append(
                f"<li>{html.escape(run.adapter)} · {html.escape(run.set_name)}: "
                f"<code>{html.escape(record.case_id)}::{html.escape(record.check)}</code>: "
                f"{html.escape(_shortened(record.message))}</li>"
            )
        out.append("</ol>")
    out.append("</body></html>")
    return "\n".join(out)


def _own_version() -> str:
    try:
        return version("streamproof")
    except PackageNotFoundError:
        return "unknown"
