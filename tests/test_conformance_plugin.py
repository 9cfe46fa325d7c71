"""The suite from the outside: the pytest plugin and ``streamproof check`` run on a separate package's
adapter (tests/thirdparty), in subprocesses, and the HTML report and JUnit XML they write."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name
from streamproof.conformance.protocol import FAULT_KINDS, ITEMS

THIRDPARTY_ROOT = Path(__file__).parent  # holds the ``thirdparty`` package
SUBSET = ("openai/chat/text", "anthropic/messages/reasoning", "openai/responses/tool_call")
# these tests run the suite in subprocesses and in-process: the suite must not leak into this run


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # a fresh pytest: none of this run's variables (an xdist worker's would make syrupy stay quiet)
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(THIRDPARTY_ROOT)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def pytest_args(*extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra]


def subset(tmp_path: Path, names: tuple[str, ...] = SUBSET) -> Path:
    """A cassettes folder with a few bundled cassettes at their usual relative paths."""
    folder = tmp_path / "cassettes"
    for name in names:
        target = folder / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", target)
    return folder


def shipped_snapshots(tmp_path: Path, folder: Path) -> Path:
    """A snapshot folder holding the shipped snapshots of the cases under ``folder``."""
    snapshots = tmp_path / "snapshots"
    (snapshots / "suite").mkdir(parents=True)
    for case in discover_cases(folder):
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots / "suite")
    return snapshots


class ReportReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.highlighted: list[str] = []
        self._in_highlight = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        fields = dict(attrs)
        self.tags.add(tag)
        if tag == "td" and "data-check" in fields:
            self.cells.append(fields)
        if tag == "a" and fields.get("href"):
            self.links.append(fields["href"] or "")
        if fields.get("id"):
            self.ids.add(fields["id"] or "")
        self.urls += [
            value or "" for name, value in attrs if name in ("href", "src") and "//" in (value or "")
        ]
        if tag in ("span", "tr"):  # the differing event: its line, or its row of the event window
            self._in_highlight = fields.get("class") == "differs"

    def handle_data(self, data: str) -> None:
        if self._in_highlight:
            self.highlighted.append(data)
            self._in_highlight = False


def test_the_plugin_adds_no_test_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n", encoding="utf-8")
    result = run(pytest_args("--collect-only", str(tmp_path)), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 test collected" in result.stdout, result.stdout


def test_pytest_runs_the_battery_on_a_third_party_package_under_xdist(tmp_path: Path) -> None:
    folder = subset(tmp_path, SUBSET[1:2])
    snapshots = shipped_snapshots(tmp_path, folder)
    report = tmp_path / "report.html"
    args = pytest_args(
        "-n", "2", "--streamproof-adapter", "thirdparty.sdk_adapter:factory", f"--streamproof-cassettes={folder}",
        f"--streamproof-snapshots={snapshots}", f"--streamproof-report={report}", str(tmp_path),
    )  # fmt: skip
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cases = discover_cases(folder)
    assert re.search(rf"\b{len(cases)} snapshots? passed", result.stdout), result.stdout[-2000:]
    assert "failed" not in result.stdout
    reader = ReportReader()  # written once, by the controller, from the workers' reports
    reader.feed(report.read_text(encoding="utf-8"))
    assert len(reader.cells) == len(cases) * len(ITEMS)
    assert {cell["class"] for cell in reader.cells} == {"pass"}
    assert {f"faults[{kind}]" for kind in FAULT_KINDS} <= {cell["data-check"] for cell in reader.cells}


def test_a_broken_package_fails_and_the_report_links_each_failure_to_its_first_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = subset(tmp_path)
    report = tmp_path / "report.html"
    args = ["check", "--adapter", "thirdparty.broken:drops_last_text_delta", "--cassettes", str(folder)]
    args += ["--snapshots", str(shipped_snapshots(tmp_path, folder)), "--report", str(report)]
    assert main(args) == 1
    page = report.read_text(encoding="utf-8")
    reader = ReportReader()
    reader.feed(page)
    cases = discover_cases(folder)
    assert len(reader.cells) == len(cases) * len(ITEMS)  # every cell of the matrix
    statuses = {(cell["title"], cell["data-check"], cell["class"]) for cell in reader.cells}
    failing = {(check, status) for _title, check, status in statuses if status == "fail"}
    assert failing == {("outcome", "fail"), ("snapshot", "fail")}
    fail_links = [link for link in reader.links if link.startswith("#failure-")]
    assert fail_links and all(link[1:] in reader.ids for link in fail_links)
    assert "events[" in page and reader.highlighted  # the first differing event, highlighted
    assert not reader.urls and "script" not in reader.tags and "link" not in reader.tags  # self-contained


def test_unused_snapshots_fail_the_run_until_updated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = subset(tmp_path, ("openai/chat/text",))
    snapshots = shipped_snapshots(tmp_path, folder)
    stale = snapshots / "suite" / snapshot_name("openai/chat/tool_call#0")
    shutil.copy(SHIPPED_SNAPSHOTS / "suite" / stale.name, stale)
    args = ["check", "--cassettes", str(folder), "--snapshots", str(snapshots)]
    assert main(args) == 1 and stale.exists()
    assert f"unused snapshot {stale}" in capsys.readouterr().err.replace("\n", "")
    assert main([*args, "--snapshot-update"]) == 0 and not stale.exists()


def test_streamproof_check_runs_the_whole_battery_on_a_third_party_package(tmp_path: Path) -> None:
    folder = subset(tmp_path, SUBSET[::2])
    junit = tmp_path / "check.xml"
    args = [sys.executable, "-m", "streamproof.cli", "check", "--adapter", "thirdparty.sdk_adapter:factory"]
    args += ["--cassettes", str(folder), "--snapshots", str(shipped_snapshots(tmp_path, folder))]
    result = run([*args, "--junit", str(junit)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "0")) == len(discover_cases(folder)) * len(ITEMS)
    names = {case.get("name", "") for case in suite.iter("testcase")}
    assert all(any(name.endswith(f"-faults[{kind}]]") for name in names) for kind in FAULT_KINDS)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert "openai/chat" in result.stderr and "openai/responses" in result.stderr  # the summary table


def test_streamproof_check_exits_1_on_a_failing_check_and_2_on_a_bad_adapter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = subset(tmp_path, ("anthropic/messages/reasoning",))
    args = ["check", "--cassettes", str(folder), "--snapshots", str(shipped_snapshots(tmp_path, folder))]
    assert main([*args, "--adapter", "thirdparty.broken:buffers_whole_stream"]) == 1
    failing = capsys.readouterr().err
    assert "FAIL" in failing and "streaming" in failing
    assert main([*args, "--adapter", "thirdparty.nowhere:factory"]) == 2
    assert "cannot import 'thirdparty.nowhere'" in " ".join(
        capsys.readouterr().err.split()
    )  # rich wraps lines
    assert main([*args, "--adapter", "thirdparty.broken:no_such_factory"]) == 2
    assert "has no callable 'no_such_factory'" in " ".join(capsys.readouterr().err.split())


def test_declared_gaps_are_xfail_and_unspoken_apis_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = subset(tmp_path, SUBSET[:2])  # one Chat case, one Messages case
    report = tmp_path / "report.html"
    args = [
        "check",
        "--adapter",
        "thirdparty.broken:declared_buffering_chat_only",
        "--cassettes",
        str(folder),
    ]
    args += ["--snapshots", str(shipped_snapshots(tmp_path, folder)), "--report", str(report)]
    assert main(args) == 0, capsys.readouterr().err
    reader = ReportReader()
    reader.feed(report.read_text(encoding="utf-8"))
    by_check = {(cell["data-check"], cell["class"]) for cell in reader.cells}
    assert ("streaming", "xfail") in by_check
    # an API the adapter does not speak is one line of its row group, not a row of skipped cells
    assert not [cell for cell in reader.cells if "does not speak messages" in (cell["title"] or "")]
    page = report.read_text(encoding="utf-8")
    assert f"1 scenario, {len(ITEMS)} checks skipped: the adapter does not speak messages" in page


def test_a_test_of_your_own_gets_the_cases_through_the_streamproof_case_fixture(tmp_path: Path) -> None:
    folder = subset(tmp_path, SUBSET[:1])
    (tmp_path / "test_mine.py").write_text(
        "from streamproof.conformance.plugin import run_case_check\n\n"
        "def test_mine(streamproof_case, request):\n"
        "    assert run_case_check(request.config, streamproof_case, request.node).status == 'pass'\n",
        encoding="utf-8",
    )
    args = ["-q", "-p", "no:cacheprovider", "-k", "test_mine", f"--streamproof-cassettes={folder}"]
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    args += ["-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path)]
    ran: list[str] = []

    class Ran:
        def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
            if report.when == "call" and report.passed:
                ran.append(report.nodeid)

    assert pytest.main(args, plugins=[Ran()]) == 0
    assert len(ran) == len(discover_cases(folder)) * len(ITEMS) and all("test_mine[" in node for node in ran)
