"""The HTML matrix: adapter × provider/API × scenario × check, self-contained (inline CSS, no scripts,
no external URL), with each failure linked to a section that shows its first differing field or event.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .plugin import event_index
from .protocol import ITEMS

if TYPE_CHECKING:
    from .plugin import CheckRecord

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
td.pass { background: #d9f2d9; } td.fail, td.error { background: #f8d0d0; font-weight: bold; }
td.xfail { background: #fbefc8; } td.xpass { background: #fde2b0; font-style: italic; } td.skip { background: #eee; color: #777; }
td a { color: inherit; }
section.failure { border-left: 4px solid #c33; padding: 0 1em; margin: 1.5em 0; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; }
.differs { background: #f8d0d0; }
"""


def _cell_id(number: int) -> str:
    return f"failure-{number}"


def write_html(path: Path, adapter: str, records: Sequence[CheckRecord]) -> None:
    """Writes the matrix for one adapter's run to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(adapter, records), encoding="utf-8")


def render_html(adapter: str, records: Sequence[CheckRecord]) -> str:
    rows: dict[tuple[str, str], dict[str, tuple[CheckRecord, int | None]]] = {}
    failures: list[CheckRecord] = []
    # a cassette that does not load has its own ``load`` column
    checks = (*ITEMS, *sorted({record.check for record in records} - set(ITEMS)))
    for record in sorted(records, key=lambda r: (r.provider, r.api, r.case_id)):
        number = None
        if record.status in ("fail", "error"):
            failures.append(record)
            number = len(failures)
        key = (f"{record.provider}/{record.api}", record.case_id)
        rows.setdefault(key, {})[record.check] = (record, number)
    counts = Counter(record.status for record in records)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>streamproof conformance: {html.escape(adapter)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>streamproof conformance report</h1><p>Adapter: <code>{html.escape(adapter)}</code></p>",
        "<p>"
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("pass", "fail", "error", "xfail", "xpass", "skip"))
        + "</p>",
        '<table class="matrix"><thead><tr><th>adapter</th><th>provider/API</th><th>scenario</th>',
        *(f"<th>{html.escape(check)}</th>" for check in checks),
        "</tr></thead><tbody>",
    ]
    for (provider_api, scenario), cells in rows.items():
        out.append(
            f"<tr><td>{html.escape(adapter)}</td><td>{html.escape(provider_api)}</td><td>{html.escape(scenario)}</td>"
        )
        for check in checks:
            if check not in cells:
                out.append('<td class="skip">-</td>')
                continue
            record, number = cells[check]
            title = html.escape(record.message, quote=True)
            label = record.status
            if number is not None:
                label = f'<a href="#{_cell_id(number)}">{record.status}</a>'
            out.append(
                f'<td class="{html.escape(record.status)}" data-check="{html.escape(check)}" title="{title}">{label}</td>'
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    if failures:
        out.append("<h2>Failures</h2>")
    for number, record in enumerate(failures, 1):
        out.append(_failure_section(number, record))
    out.append("</body></html>")
    return "\n".join(out)


def _failure_section(number: int, record: CheckRecord) -> str:
    parts = [
        f'<section class="failure" id="{_cell_id(number)}">',
        f"<h3>{html.escape(record.case_id)} — {html.escape(record.check)}</h3>",
        f"<p>{html.escape(record.message)}</p>",
    ]
    if record.traceback:
        parts.append("<p>The suite crashed while judging this check:</p>")
        parts.append(f'<pre class="traceback">{html.escape(record.traceback)}</pre>')
    if record.adapter_traceback:
        parts.append("<p>The adapter raised (its last frames):</p>")
        parts.append(f'<pre class="adapter-traceback">{html.escape(record.adapter_traceback)}</pre>')
    difference = record.difference
    if difference is not None:
        parts.append(
            '<p class="first-difference">First difference at <code>'
            + html.escape(str(difference["path"]))
            + "</code>:</p><pre>expected: "
            + html.escape(json.dumps(difference["expected"], default=str, indent=1))
            + "\nactual:   "
            + html.escape(json.dumps(difference["actual"], default=str, indent=1))
            + "</pre>"
        )
    if record.events:
        marked = event_index(str(difference["path"])) if difference else None
        parts.append("<p>Events of that run (the first differing one highlighted):</p><pre>")
        for index, event in enumerate(record.events, record.first_event):
            line = html.escape(f"[{index}] {json.dumps(event, default=str)[:300]}")
            parts.append(f'<span class="differs">{line}</span>' if index == marked else line)
        parts.append("</pre>")
    parts.append("</section>")
    return "\n".join(parts)
