"""The HTML report in a real browser: headless Chromium (Debian's package; `.ci/run` installs it)
renders it at 1400 px, takes a screenshot, and the page is measured from inside: the matrix cells
are there, nothing overflows horizontally, and nothing was fetched beyond the file itself."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name
from streamproof.conformance.protocol import ITEMS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
WIDTH = 1400
# measured inside the page before the result is added to it; resources: what the page fetched
MEASURE = """<script>
const root = document.documentElement;
const found = {
  scrollWidth: root.scrollWidth,
  cells: document.querySelectorAll("table.matrix td[data-check]").length,
  failing: document.querySelectorAll("table.matrix td.fail a[href^='#failure-']").length,
  groups: [...document.querySelectorAll("table.matrix th.group")].map((th) => th.textContent),
  resources: performance.getEntriesByType("resource").map((entry) => entry.name),
};
const out = document.createElement("output");
out.id = "measured";
out.textContent = JSON.stringify(found);
document.body.appendChild(out);
</script>"""
NAMES = ("openai/chat/text", "openai/responses/long_text", "anthropic/messages/tool_call")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={WIDTH},900",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


def failing_report(tmp_path: Path) -> tuple[Path, int]:
    folder, snapshots = tmp_path / "cassettes", tmp_path / "snapshots" / "suite"
    snapshots.mkdir(parents=True)
    for name in NAMES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", folder / f"{name}.yaml")
    cases = discover_cases(folder)
    for case in cases:
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots)
    report = tmp_path / "report.html"
    args = ["check", "--adapter", "thirdparty.broken:drops_last_text_delta", "--cassettes", str(folder)]
    assert main([*args, "--snapshots", str(snapshots.parent), "--report", str(report)]) == 1
    return report, len(cases)


def test_the_report_renders_in_chromium_within_1400_px_and_fetches_nothing(tmp_path: Path) -> None:
    report, cases = failing_report(tmp_path)
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(?!#)|url\(|@import|https?://", page)  # nothing to fetch
    screenshot = tmp_path / "report.png"
    shot = chromium(tmp_path, f"--screenshot={screenshot}", report.as_uri())
    assert screenshot.exists(), shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(page.replace("</body>", f"{MEASURE}</body>"), encoding="utf-8")
    dump = chromium(tmp_path, "--dump-dom", measured_page.as_uri())
    found = re.search(r'<output id="measured">(.*?)</output>', dump.stdout)
    assert found, dump.stderr[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["cells"] == cases * len(ITEMS)
    assert measured["failing"] > 0  # a failing cell links to its section
    assert measured["groups"] == ["anthropic/messages", "openai/chat", "openai/responses"]
    assert measured["scrollWidth"] <= WIDTH, f"the page is {measured['scrollWidth']} px wide"
    assert measured["resources"] == []
