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
import contextlib
import fnmatch
import gc
import json
import os
import shlex
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
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
    SuiteCase,
    bundled_cassettes,
    nothing_checked,
    snapshot_update_refusal,
)
from ..conformance.protocol import DEFAULT_ADAPTER, AdapterLoadError, load_adapter
from ..conformance.records import CheckRecord

_STATUSES = ("pass", "fail", "error", "xfail", "xpass", "skip")
USAGE = (
    "usage: streamproof check [--adapter MODULE:FACTORY] [--adapter-python PYTHON] [--cassettes DIR] [--snapshots DIR] "
    "[--snapshot-update [--force-snapshot-update]] [--report FILE.html] [--junit FILE.xml] "
    "[-k EXPR] [--case GLOB[::CHECK]] [-v]"
)
SHOWN_FAILURES = 20  # failure lines on the terminal; the HTML report and JUnit have them all
VERBOSE_LINES = 16  # of a suite crash's traceback with -v (the whole one is in the HTML and JUnit)
WIDE = 10_000  # columns when stderr is not a terminal: CI logs keep each line whole


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--adapter",
        default=DEFAULT_ADAPTER,
        metavar="MODULE:FACTORY",
        help="adapter under test: MODULE:FACTORY, or a library: sdk-helpers, pydantic-ai, langchain, litellm, any-llm",
    )
    parser.add_argument(
        "--adapter-python",
        default=None,
        metavar="PYTHON",
        help="run the adapter in a subprocess of this interpreter (it needs the adapter and its library, "
        "not streamproof); the cassette is served to it on loopback",
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
    parser.add_argument(
        "-k", dest="keyword", default=None, metavar="EXPR", help="only the items pytest's -k EXPR selects"
    )
    parser.add_argument(
        "--case",
        dest="cases",
        action="append",
        default=[],
        metavar="GLOB[::CHECK]",
        help="only the cases whose id matches GLOB (and only CHECK of them); repeatable; "
        "each failure line ends with the id to pass here",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="with each failure, the last frames of a traceback"
    )


def case_selected(patterns: list[str], case_id: str, check: str) -> bool:
    """Whether ``--case`` patterns select ``check`` of ``case_id`` (no pattern selects everything).

    A pattern is a case-id glob, optionally followed by ``::CHECK`` (the check's name, or its base:
    ``faults`` is every ``faults[kind]``); an exact id always matches, whatever brackets it holds."""
    if not patterns:
        return True
    base = check.partition("[")[0]
    for pattern in patterns:
        glob, _, wanted = pattern.partition("::")
        if wanted and wanted not in (check, base):
            continue
        if glob == case_id or fnmatch.fnmatchcase(case_id, glob):
            return True
    return False


def failure_id(record: CheckRecord) -> str:
    """What ``--case`` takes to rerun exactly this check of this case."""
    return f"{record.case_id}::{record.check}"


class _Progress:
    """A pytest plugin object: advances the bar per item and keeps the suite's records at the end."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("checks", total=None)
        self.records: list[CheckRecord] = []
        self.unused: list[Path] = []
        self.warnings: list[str] = []
        self.collection_errors: list[str] = []
        self.patterns: list[str] = []
        self.selected = 0
        self.modules_frozen = 0  # how many modules were loaded at the last gc.freeze()

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not self.patterns:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            suite_case = _suite_case(item)
            chosen = suite_case is not None and case_selected(
                self.patterns, suite_case.case.id, suite_case.check
            )
            (keep if chosen else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longreprtext).strip().splitlines()[-1])

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = len(session.items)
        self.progress.update(self.task, total=len(session.items))

    def pytest_runtest_logfinish(self) -> None:
        self.progress.advance(self.task)

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        # The modules a case's calls imported (the SDKs: ~200,000 objects) are frozen out of the garbage
        # collector's sight once the case is done: otherwise every full collection walks them again
        # (about 2 s of a check over the bundled cassettes, measured with gc.callbacks).
        if len(sys.modules) > self.modules_frozen and _case_id(item) != _case_id(nextitem):
            gc.collect()
            gc.freeze()
            self.modules_frozen = len(sys.modules)

    def pytest_unconfigure(self, config: pytest.Config) -> None:  # after every sessionfinish hook
        state = config.stash.get(STATE, None)
        if state is not None:
            self.records = list(state.records.values())
            self.unused = list(state.unused)
            self.warnings = list(state.warnings)


def _suite_case(item: pytest.Item | None) -> SuiteCase | None:
    """The suite's ``SuiteCase`` of a conformance item (None for another test)."""
    callspec = getattr(item, "callspec", None)
    suite_case = callspec.params.get("streamproof_case") if callspec is not None else None
    return suite_case if isinstance(suite_case, SuiteCase) else None


def _case_id(item: pytest.Item | None) -> str | None:
    suite_case = _suite_case(item)
    return suite_case.case.id if suite_case is not None else None


def terminal() -> Console:
    """stderr's console; when it is not a terminal (a CI log, a pipe) lines are not wrapped at 80
    columns, so a failure line stays whole and searchable."""
    if sys.stderr.isatty():
        return Console(stderr=True)
    return Console(stderr=True, width=WIDE, soft_wrap=True)



# the suite's plugins, named: the others installed beside them (langsmith's, hypothesis', anyio's,
# pytest-recording's, ...) are never loaded into a check, where they only cost time or interfere
SUITE_PLUGINS = ("streamproof.conformance.plugin", "syrupy", "pytest_asyncio.plugin")


@contextlib.contextmanager
def _no_plugin_autoload() -> Iterator[None]:
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous

def run(args: argparse.Namespace) -> int:
    console = terminal()
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
        if getattr(args, "adapter_python", None):
            from ..conformance.remote import load_remote_adapter

            load_remote_adapter(args.adapter_python, args.adapter)  # started once: the suite drives it
        else:
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
            "no:logging",  # what libraries log is theirs to show; capturing it per item cost ~0.3 s a check
            "-p",
            "no:terminal",  # the progress bar and the summary table replace pytest's own output
            f"--streamproof-adapter={args.adapter}",
            f"--streamproof-cassettes={cassettes}",
            *(arg for plugin in SUITE_PLUGINS for arg in ("-p", plugin)),
        ]
        if getattr(args, "adapter_python", None):
            pytest_args.append(f"--streamproof-adapter-python={args.adapter_python}")
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
        if args.keyword:
            pytest_args += ["-k", args.keyword]
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            recorder = _Progress(progress)
            recorder.patterns = list(args.cases)
            with _no_plugin_autoload():
                code = pytest.main(pytest_args, plugins=[recorder])
    for error in recorder.collection_errors:
        console.print(f"[red]cannot collect the suite:[/red] {escape(error)}")
    _summary(console, args, recorder.records)
    for warning in recorder.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
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
    if (args.cases or args.keyword) and not recorder.selected and not recorder.collection_errors:
        chosen = " ".join(f"--case {shlex.quote(p)}" for p in args.cases)
        chosen += f" -k {shlex.quote(args.keyword)}" if args.keyword else ""
        console.print(
            f"[red]streamproof check: nothing was checked: no case matches {escape(chosen.strip())}[/red]",
            soft_wrap=True,
        )
        return 2
    checked = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
    if code in checked and not recorder.collection_errors:
        nothing = nothing_checked(recorder.records, cassettes)
        if nothing:
            console.print(
                f"[red]streamproof check: nothing was checked: {escape(nothing)}[/red]", soft_wrap=True
            )
            return 2
    if code == pytest.ExitCode.OK:
        return 0
    return 1 if code == pytest.ExitCode.TESTS_FAILED else 2


def _missing_snapshots(records: list[CheckRecord]) -> bool:
    return any(
        record.check == "snapshot" and (record.difference or {}).get("expected") == MISSING_SNAPSHOT
        for record in records
    )


def _request_warnings(console: Console, records: list[CheckRecord]) -> None:
    """What adapters added to a request (a check passes with them): told once per case and field."""
    told = [
        f"{failure_id(record)}: {warning}"
        for record in sorted(records, key=lambda record: record.case_id)
        for warning in record.warnings
    ]
    for line in told[:SHOWN_FAILURES]:
        console.print(f"[yellow]warning[/yellow] {escape(line)}", soft_wrap=True)
    if len(told) > SHOWN_FAILURES:
        console.print(f"... and {len(told) - SHOWN_FAILURES} more request warnings", soft_wrap=True)


def _summary(console: Console, args: argparse.Namespace, records: list[CheckRecord]) -> None:
    table = Table(title=f"streamproof check: {args.adapter}")
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
    failures.sort(key=lambda record: (record.provider, record.api, record.case_id, record.check))
    for record in failures[:SHOWN_FAILURES]:
        label = "[red]FAIL[/red]" if record.status == "fail" else "[red]ERROR[/red]"
        console.print(f"{label} {escape(failure_id(record))}: {escape(failure_text(record))}", soft_wrap=True)
        if record.traceback and not args.verbose:  # the suite crashed: where (all of it: HTML, JUnit, -v)
            console.print(f"  {escape(_last_frame(record.traceback))}", soft_wrap=True)
        elif record.traceback:
            console.print(escape(_indented(record.traceback, VERBOSE_LINES)), soft_wrap=True)
        if record.adapter_traceback and args.verbose:
            console.print("  the adapter raised:", soft_wrap=True)
            console.print(escape(_indented(record.adapter_traceback)), soft_wrap=True)
        elif record.adapter_traceback:
            console.print(
                f"  {escape(_last_frame(record.adapter_traceback, 'the adapter raised at'))} (-v: more)",
                soft_wrap=True,
            )
    _request_warnings(console, records)
    if len(failures) > SHOWN_FAILURES:
        more = f"... and {len(failures) - SHOWN_FAILURES} more failures"
        where = (
            f" (see the HTML report: {args.report})"
            if args.report
            else " (--report FILE.html lists them all)"
        )
        console.print(escape(more + where), soft_wrap=True)
    if failures:
        by_check = Counter(record.check for record in failures)
        listed = ", ".join(f"{check} {count}" for check, count in sorted(by_check.items()))
        console.print(f"failures by check: {escape(listed)}", soft_wrap=True)
        console.print(f"rerun one: {escape(rerun_command(args, failure_id(failures[0])))}", soft_wrap=True)
    stale = [record for record in records if record.status == "xpass"]
    for record in stale[:SHOWN_FAILURES]:
        console.print(
            f"[yellow]XPASS[/yellow] {escape(failure_id(record))}: {escape(record.message)}", soft_wrap=True
        )
    if args.report:
        console.print(f"HTML report: {escape(str(args.report))}", soft_wrap=True)


def failure_text(record: CheckRecord) -> str:
    """The failure's message, with the differing field in full (the verdict's message shortens it)."""
    difference = record.difference
    if difference is None:
        return str(record.message)
    expected, actual = (_full(difference[side]) for side in ("expected", "actual"))
    return f"{difference['path']}: expected {expected}, got {actual}"


def _full(value: object) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def rerun_command(args: argparse.Namespace, case: str) -> str:
    """The command that reruns exactly ``case`` with this run's adapter, cassettes and snapshots."""
    words = ["streamproof", "check", "--adapter", args.adapter]
    if getattr(args, "adapter_python", None):
        words += ["--adapter-python", args.adapter_python]
    if args.cassettes:
        words += ["--cassettes", str(args.cassettes)]
    if args.snapshots:
        words += ["--snapshots", str(args.snapshots)]
    return shlex.join([*words, "--case", case])


def _last_frame(traceback: str, what: str = "the suite crashed at") -> str:
    frames = [line.strip() for line in traceback.splitlines() if line.strip().startswith("File ")]
    return f"{what} {frames[-1]}" if frames else traceback.strip().splitlines()[-1]


def _indented(traceback: str, last: int | None = None) -> str:
    """A traceback's text (its ``last`` lines), indented under its failure line."""
    lines = traceback.rstrip().splitlines()
    return "\n".join(f"    {line}" for line in lines[-last if last else 0 :])
