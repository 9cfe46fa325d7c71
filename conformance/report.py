"""The HTML report of one adapter's run: a verdict banner, the list of failures, then the matrix
(provider/API row groups × scenario × check), self-contained (inline CSS, no scripts, no external
URL). Each failure links to a section with its first differing field, where the adapter raised,
and the window of events around the first difference, expected beside actual.
"""

from __future__ import annotations

import html
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path
from typing import Any

from .protocol import ITEMS
from .records import CheckRecord, event_index

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em 2em; color: #222; max-width: 1320px; }
h1 { font-size: 1.4em; margin: 0 0 .4em; } h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
.banner { border-radius: 6px; padding: .8em 1.2em; margin-bottom: 1em; }
.banner.passed { background: #e3f5e3; border: 1px solid #8c8; }
.banner.failed { background: #fbe3e3; border: 1px solid #d88; }
.banner .verdict { font-size: 1.3em; font-weight: bold; }
.banner .counts span { margin-right: 1.2em; } .banner .meta { color: #555; font-size: .9em; }
ol.failures li { margin: .15em 0; } ol.failures code { font-size: .92em; }
table { border-collapse: collapse; }
table.matrix { table-layout: fixed; width: 100%; font-size: 12.5px; }
table.matrix col.scenario { width: 150px; }
th, td { border: 1px solid #ccc; padding: 2px 4px; text-align: left; overflow: hidden; }
thead th { background: #f3f3f3; font-weight: 600; font-size: 11.5px; vertical-align: bottom;
  overflow-wrap: anywhere; text-align: center; padding: 2px 1px; }
tbody th.group { background: #e8eef7; text-align: left; font-size: 13px; padding: 4px 6px; }
tbody td.scenario { white-space: nowrap; text-overflow: ellipsis; }
td[data-check] { text-align: center; }
td.pass { background: #d9f2d9; color: #276b27; } td.fail, td.error { background: #f8c6c6; font-weight: bold; }
td.xfail { background: #fbefc8; } td.xpass { background: #fde2b0; font-style: italic; }
td.skip { background: #f2f2f2; color: #999; }
td a { color: inherit; } td.unspoken { color: #777; font-style: italic; background: #f7f7f7; }
.legend span { display: inline-block; padding: 0 .5em; margin-right: .4em; border: 1px solid #ccc; }
section.failure { border-left: 4px solid #c33; padding: 0 1em; margin: 1.5em 0; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
table.window { width: 100%; table-layout: fixed; font: 12px/1.35 ui-monospace, monospace; }
table.window td, table.window th { vertical-align: top; word-break: break-all; }
table.window td.index { width: 3.5em; color: #777; } table.window tr.cut td { color: #777; font-style: italic; }
.differs { background: #f8d0d0; }
"""
_SYMBOL = {"pass": "✓", "fail": "✗", "error": "!", "xfail": "gap", "xpass": "stale", "skip": "–"}
_STATUSES = ("pass", "fail", "error", "xfail", "xpass", "skip")


def _cell_id(number: int) -> str:
    return f"failure-{number}"


def write_html(path: Path, adapter: str, records: Sequence[CheckRecord]) -> None:
    """Writes the report of one adapter's run to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(adapter, records, versions(adapter)), encoding="utf-8")


def versions(adapter: str) -> dict[str, str]:
    """The versions a verdict depends on: streamproof's, the adapter's distribution's (when it is
    an installed one) and the provider SDKs'."""
    found = {"streamproof": _version("streamproof")}
    top = adapter.partition(":")[0].partition(".")[0]
    for distribution in packages_distributions().get(top, []):
        found[distribution] = _version(distribution)
    for sdk in ("openai", "anthropic"):
        found.setdefault(sdk, _version(sdk))
    found["python"] = sys.version.split()[0]
    return found


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def render_html(
    adapter: str, records: Sequence[CheckRecord], versions: Mapping[str, str] | None = None
) -> str:
    groups: dict[str, dict[str, dict[str, tuple[CheckRecord, int | None]]]] = {}
    failures: list[CheckRecord] = []
    # a cassette that does not load has its own ``load`` column
    checks = (*ITEMS, *sorted({record.check for record in records} - set(ITEMS)))
    for record in sorted(records, key=lambda r: (r.provider, r.api, r.case_id, r.check)):
        number = None
        if record.status in ("fail", "error"):
            failures.append(record)
            number = len(failures)
        group = groups.setdefault(f"{record.provider}/{record.api}", {})
        group.setdefault(record.case_id, {})[record.check] = (record, number)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>streamproof conformance: {html.escape(adapter)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>streamproof conformance report</h1>",
        _banner(adapter, records, versions or {}),
    ]
    if failures:
        out.append(f'<h2>Failures ({len(failures)})</h2><ol class="failures">')
        for number, record in enumerate(failures, 1):
            out.append(
                f'<li><a href="#{_cell_id(number)}"><code>{html.escape(record.case_id)}</code> '
                f"{html.escape(record.check)}</a>: {html.escape(_shortened(record.message))}</li>"
            )
        out.append("</ol>")
    out.append("<h2>Matrix</h2>")
    out.append(
        '<p class="legend">'
        + "".join(f'<span class="{s}">{_SYMBOL[s]} {s}</span>' for s in _STATUSES)
        + "</p>"
    )
    out.append('<table class="matrix"><colgroup><col class="scenario">')
    out.append("".join("<col>" for _ in checks) + "</colgroup><thead><tr><th>scenario</th>")
    out.extend(f"<th>{_header(check)}</th>" for check in checks)
    out.append("</tr></thead>")
    for provider_api, rows in groups.items():
        out.append(_group(provider_api, rows, checks))
    out.append("</table>")
    if failures:
        out.append("<h2>Failure details</h2>")
    for number, record in enumerate(failures, 1):
        out.append(_failure_section(number, record))
    out.append("</body></html>")
    return "\n".join(out)


def _banner(adapter: str, records: Sequence[CheckRecord], versions: Mapping[str, str]) -> str:
    counts = Counter(record.status for record in records)
    failed = counts["fail"] + counts["error"]
    if failed:
        verdict = f"{failed} of {len(records)} checks failed"
    else:  # a skipped check did not pass: the count says what was checked
        verdict = f"{counts['pass']} of {len(records)} checks passed, none failed"
        aside = {"xfail": "failed in declared gaps", "xpass": "stale gaps", "skip": "did not apply"}
        told = [f"{counts[status]} {words}" for status, words in aside.items() if counts[status]]
        verdict += f" ({', '.join(told)})" if told else ""
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = ", ".join(f"{html.escape(name)} {html.escape(value)}" for name, value in versions.items())
    return (
        f'<div class="banner {"failed" if failed else "passed"}">'
        f'<div class="verdict">{"FAIL" if failed else "PASS"}: {html.escape(verdict)}</div>'
        '<div class="counts">' + "".join(f"<span>{counts.get(s, 0)} {s}</span>" for s in _STATUSES) + "</div>"
        f'<div class="meta">adapter <code>{html.escape(adapter)}</code> · {when}'
        + (f" · {meta}" if meta else "")
        + "</div></div>"
    )


def _header(check: str) -> str:
    """A check's column head, short enough for narrow columns: ``faults[rate_limit]`` -> two lines."""
    name, _, kind = check.partition("[")
    words = [name, *kind.rstrip("]").split("_")] if kind else [name]
    return "<br>".join(_hyphenable(word) for word in words if word)


# where the battery's long words may break (a soft hyphen each); any other long word breaks in its middle
_SYLLABLES = {
    "streaming": "stream-ing",
    "cancellation": "cancel-lation",
    "unavailable": "un-avail-able",
    "overloaded": "over-loaded",
    "malformed": "mal-formed",
}


def _hyphenable(word: str) -> str:
    """A long word with soft hyphens between its syllables: it breaks there, not at its last letter."""
    if len(word) <= 8:
        return html.escape(word)
    middle = len(word) // 2
    parts = _SYLLABLES.get(word, f"{word[:middle]}-{word[middle:]}").split("-")
    return "&shy;".join(html.escape(part) for part in parts)


def _group(
    provider_api: str, rows: dict[str, dict[str, tuple[CheckRecord, int | None]]], checks: Sequence[str]
) -> str:
    """A provider/API's row group; one line for an API the adapter does not speak (all skipped, one reason)."""
    span = len(checks) + 1
    cells = [record for row in rows.values() for record, _ in row.values()]
    reasons = {record.message for record in cells}
    out = [f'<tbody><tr><th class="group" colspan="{span}">{html.escape(provider_api)}</th></tr>']
    if cells and all(record.status == "skip" for record in cells) and len(reasons) == 1:
        (reason,) = reasons
        out.append(
            f'<tr class="unspoken"><td class="unspoken" colspan="{span}">{len(rows)} scenario{"s" * (len(rows) != 1)}, '
            f"{len(cells)} checks skipped: {html.escape(reason)}</td></tr></tbody>"
        )
        return "\n".join(out)
    for scenario, row in rows.items():
        shown = scenario.removeprefix(f"{provider_api}/")  # the group's row says which API
        out.append(f'<tr><td class="scenario" title="{html.escape(scenario)}">{html.escape(shown)}</td>')
        for check in checks:
            if check not in row:
                out.append('<td class="skip">–</td>')
                continue
            record, number = row[check]
            title = html.escape(record.message or record.status, quote=True)
            label = _SYMBOL.get(record.status, record.status)
            if number is not None:
                label = f'<a href="#{_cell_id(number)}">{label}</a>'
            out.append(
                f'<td class="{html.escape(record.status)}" data-check="{html.escape(check)}" title="{title}">{label}</td>'
            )
        out.append("</tr>")
    out.append("</tbody>")
    return "\n".join(out)


def _shortened(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _failure_section(number: int, record: CheckRecord) -> str:
    parts = [
        f'<section class="failure" id="{_cell_id(number)}">',
        f"<h3>{number}. {html.escape(record.case_id)} — {html.escape(record.check)}</h3>",
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
            + '</code>:</p><table class="window"><tr><th>expected</th><th>actual</th></tr><tr><td>'
            + html.escape(json.dumps(difference["expected"], default=str, indent=1))
            + "</td><td>"
            + html.escape(json.dumps(difference["actual"], default=str, indent=1))
            + "</td></tr></table>"
        )
    if record.events or record.expected_events:
        parts.append(_event_window(record))
    parts.append("</section>")
    return "\n".join(parts)


def _event_window(record: CheckRecord) -> str:
    """The events around the first difference, expected (the snapshot's, when the check has them)
    beside actual, the differing one highlighted, a marker where the window cuts the run."""
    difference = record.difference
    marked = event_index(str(difference["path"])) if difference else None
    both = bool(record.expected_events)
    heads = "<th>expected (stored snapshot)</th><th>actual</th>" if both else "<th>actual events</th>"
    rows = [
        "<p>Events of that run around the first difference:</p>",
        f'<table class="window"><tr><th>#</th>{heads}</tr>',
    ]
    columns = 3 if both else 2
    if record.first_event > 0:
        rows.append(
            f'<tr class="cut"><td colspan="{columns}">… {record.first_event} earlier events not shown</td></tr>'
        )
    length = max(len(record.events), len(record.expected_events))
    for offset in range(length):
        index = record.first_event + offset
        sides = [record.expected_events, record.events] if both else [record.events]
        cells = "".join(f"<td>{_event_text(side, offset)}</td>" for side in sides)
        row_class = ' class="differs"' if index == marked else ""
        rows.append(f'<tr{row_class}><td class="index">{index}</td>{cells}</tr>')
    shown_to = record.first_event + len(record.events)
    total = max(record.event_count, record.expected_count)
    if total > shown_to:
        rows.append(
            f'<tr class="cut"><td colspan="{columns}">… {total - shown_to} later events not shown</td></tr>'
        )
    rows.append("</table>")
    return "\n".join(rows)


def _event_text(events: list[dict[str, Any]], offset: int) -> str:
    if offset >= len(events):
        return "<em>(none)</em>"
    return html.escape(json.dumps(events[offset], default=str)[:300])
