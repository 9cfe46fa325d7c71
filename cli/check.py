"""``streamproof check [--adapter MODULE:FACTORY] [--cassettes DIR] [--report FILE.html] [--junit FILE.xml]``

Runs the conformance battery through pytest in this process (the same items as
``pytest --streamproof-adapter ...``), with a progress bar and a summary table on the terminal.
Exit 0 exactly when every check passes (expected failures of declared known gaps and checks that do
not apply are allowed); 1 when a check fails, a cassette does not load or the suite crashes on a
case; 2 when the run cannot start (bad adapter, bad folder, a snapshot update by an adapter other
than the reference without ``--force-snapshot-update``) or nothing was checked (no recorded
interaction, or every check skipped).
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..conformance.plugin import (
    MISSING_SNAPSHOT,
    STATE,
    SUITE_MODULE,
    CheckRecord,
    bundled_cassettes,
    snapshot_update_refusal,
)
from ..conformance.protocol import DEFAULT_ADAPTER, AdapterLoadError, load_adapter

_STATUSES = ("pass", "fail", "error", "xfail", "skip")
USAGE = (
    "usage: streamproof check [--adapter MODULE:FACTORY] [--cassettes DIR] [--snapshots DIR] "
    "[--snapshot-update [--force-snapshot-update]] [--report FILE.html] [--junit FILE.xml]"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adapter",
        default=DEFAULT_ADAPTER,
        metavar="MODULE:FACTORY",
        help="adapter under test: MODULE:FACTORY, or a library: sdk-helpers, pydantic-ai, langchain, litellm, any-llm",
    )
    parser.add_argument(
        "--cassettes", type=Path, default=None, metavar="DIR", help="default: the bundled cassettes"
    )
    parser.add_argument(
        "--snapshots", type=Path, default=None, metavar="DIR", help="event-sequence snapshots"
    )
    parser.add_argument(
        "--snapshot-update", action="store_true", help="write or refresh the snapshots (reference adapter)"
    )
    parser.add_argument(
        "--force-snapshot-update",
        action="store_true",
        help="with --snapshot-update: store the events of an adapter other than the reference",
    )
    parser.add_argument(
        "--report", type=Path, default=None, metavar="FILE.html", help="write the HTML matrix"
    )
    parser.add_argument("--junit", type=Path, default=None, metavar="FILE.xml", help="write JUnit XML")


class _Progress:
    """A pytest plugin object: advances the bar per item and keeps the suite's records at the end."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("checks", total=None)
        self.records: list[CheckRecord] = []
        self.unused: list[Path] = []
        self.collection_errors: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longreprtext).strip().splitlines()[-1])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.update(self.task, total=len(session.items))

    def pytest_runtest_logfinish(self) -> None:
        self.progress.advance(self.task)

    def pytest_unconfigure(self, config: pytest.Config) -> None:  # after every sessionfinish hook
        state = config.stash.get(STATE, None)
        if state is not None:
            self.records = list(state.records.values())
            self.unused = list(state.unused)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    cassettes: Path = args.cassettes or bundled_cassettes()
    if not cassettes.exists():
        console.print(escape(USAGE), soft_wrap=True)
        console.print(
            f"[red]streamproof check: error: --cassettes {escape(str(cassettes))}: no such file or folder[/red]",
            soft_wrap=True,
        )
        return 2
    refusal = snapshot_update_refusal(args.adapter, cassettes) if args.snapshot_update else ""
    if refusal and not args.force_snapshot_update:
        console.print(f"[red]{escape(refusal)}[/red]", soft_wrap=True)
        return 2
    try:
        load_adapter(args.adapter)
    except AdapterLoadError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        return 2
    with tempfile.TemporaryDirectory(prefix="streamproof-check-") as scratch:
        ini = Path(scratch) / "pytest.ini"
        # nothing of the caller's pytest configuration applies
        ini.write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8")
        pytest_args = [
            str(SUITE_MODULE),
            "-c",
            str(ini),
            "--rootdir",
            scratch,
            "-p",
            "no:cacheprovider",
            "-p",
            "no:terminal",  # the progress bar and the summary table replace pytest's own output
            f"--streamproof-adapter={args.adapter}",
            f"--streamproof-cassettes={cassettes}",
        ]
        if args.snapshots:
            pytest_args.append(f"--streamproof-snapshots={args.snapshots}")
        if args.snapshot_update:
            pytest_args.append("--snapshot-update")
        if args.force_snapshot_update:
            pytest_args.append("--streamproof-force-snapshot-update")
        if args.report:
            pytest_args.append(f"--streamproof-report={args.report}")
        if args.junit:
            pytest_args.append(f"--junitxml={args.junit}")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            recorder = _Progress(progress)
            code = pytest.main(pytest_args, plugins=[recorder])
    for error in recorder.collection_errors:
        console.print(f"[red]cannot collect the suite:[/red] {escape(error)}")
    _summary(console, args.adapter, recorder.records)
    for path in recorder.unused:
        console.print(
            f"[red]unused snapshot[/red] {escape(str(path))} (its case is gone; --snapshot-update deletes it)"
        )
    if _missing_snapshots(recorder.records):
        where = f" --snapshots {args.snapshots}" if args.snapshots else ""
        console.print(
            "no stored snapshot for some cases: snapshots are the reference adapter's events; make them "
            f"with the reference: streamproof check --cassettes {escape(str(cassettes))}{escape(where)} "
            "--snapshot-update (then review them)",
            soft_wrap=True,
        )
    if code in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not recorder.collection_errors:
        nothing = _nothing_checked(recorder.records, cassettes)
        if nothing:
            console.print(
                f"[red]streamproof check: nothing was checked: {escape(nothing)}[/red]", soft_wrap=True
            )
            return 2
    if code == pytest.ExitCode.OK:
        return 0
    return 1 if code == pytest.ExitCode.TESTS_FAILED else 2


def _nothing_checked(records: list[CheckRecord], cassettes: Path) -> str:
    """Why no check ran ("" when one did): a run that checks nothing must not pass."""
    if any(record.status != "skip" for record in records):
        return ""
    if not records:
        return (
            f"no recorded interaction under {cassettes} (the suite reads the streamed chat, responses "
            "and messages POST requests of its *.yaml cassettes)"
        )
    reasons = sorted({record.message for record in records})
    return f"all {len(records)} checks were skipped: {'; '.join(reasons)}"


def _missing_snapshots(records: list[CheckRecord]) -> bool:
    return any(
        record.check == "snapshot" and (record.difference or {}).get("expected") == MISSING_SNAPSHOT
        for record in records
    )


def _summary(console: Console, adapter: str, records: list[CheckRecord]) -> None:
    table = Table(title=f"streamproof check: {adapter}")
    table.add_column("provider/API")
    for status in _STATUSES:
        table.add_column(status, justify="right")
    by_api: dict[str, Counter[str]] = {}
    for record in records:
        by_api.setdefault(f"{record.provider}/{record.api}", Counter())[record.status] += 1
    for name, counts in sorted(by_api.items()):
        table.add_row(name, *(str(counts.get(status, 0)) for status in _STATUSES))
    console.print(table)
    failures = [record for record in records if record.status in ("fail", "error")]
    for record in failures[:20]:
        label = "[red]FAIL[/red]" if record.status == "fail" else "[red]ERROR[/red]"
        console.print(f"{label} {escape(record.case_id)} {record.check}: {escape(record.message)}")
        if record.traceback:  # the suite crashed: where (the whole traceback is in the HTML and JUnit)
            console.print(f"  {escape(_last_frame(record.traceback))}", soft_wrap=True)
    if len(failures) > 20:
        console.print(f"... and {len(failures) - 20} more failures (see the HTML report)")


def _last_frame(traceback: str) -> str:
    frames = [line.strip() for line in traceback.splitlines() if line.strip().startswith("File ")]
    return f"the suite crashed at {frames[-1]}" if frames else traceback.strip().splitlines()[-1]
