"""pytest plugin of the conformance suite (entry point ``streamproof``; loaded by every pytest run).

Options:

    --streamproof-adapter MODULE:FACTORY   the adapter under test (default: the reference stack)
    --streamproof-cassettes DIR            the cassettes to run on (default: the bundled ones)
    --streamproof-snapshots DIR            where the event-sequence snapshots live (default: the
                                           shipped ones for the bundled cassettes, else
                                           DIR/__snapshots__ beside the cassettes)
    --streamproof-report FILE.html         write the HTML matrix when the run ends
    --streamproof-force-snapshot-update    let ``--snapshot-update`` write another adapter's events

The suite adds tests ONLY when ``--streamproof-adapter`` or ``--streamproof-cassettes`` is given:
then ``conformance/suite.py`` joins the run with one test per cassette case × check, e.g.
``test_conformance[openai.chat.text#0-outcome]``. Without them, nothing is added, except to a test
of your own that requests the ``streamproof_case`` fixture (it is parametrized the same way).

Declared known gaps become xfail with their reason; checks that do not apply to a case (a check of
a stream on an error response, an API the adapter does not speak) are skipped with the reason.
Snapshots use syrupy's JSON extension (``--snapshot-update`` writes them); they are the reference
adapter's, so an update by another adapter is refused unless forced. A snapshot whose case is
gone fails the run until ``--snapshot-update`` deletes it (syrupy's own detection cannot see a
snapshot folder that is not beside the test module). A cassette that does not load fails its own
``<file>#load`` item (check ``load``); a crash of the suite while judging a check is that item's
``error``, with its traceback. Each item's record (status, first difference,
the events around it) rides on its test report as a user property, so the HTML report and
``streamproof check``'s summary work under pytest-xdist too: the controller writes the report.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .records import EVENT_WINDOW, FINAL_PROPERTY, RECORD_PROPERTY, CheckRecord, event_index

if TYPE_CHECKING:
    from syrupy.extensions.json import JSONSnapshotExtension

    from .battery import Battery, BrokenCassette, Case, Verdict
    from .protocol import ConformanceAdapter

# cassettes in users' own tests (inert unless used)
pytest_plugins = ["streamproof.conformance.cassette_plugin"]
SUITE_MODULE = Path(__file__).with_name("suite.py")
SHIPPED_SNAPSHOTS = Path(__file__).with_name("snapshots")


def bundled_cassettes() -> Path:
    """The cassettes shipped with streamproof (beside the package's adapters/ folder)."""
    import streamproof.adapters

    return Path(streamproof.adapters.__file__).parent.parent / "cassettes"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("streamproof", "streamproof conformance suite")
    group.addoption(
        "--streamproof-adapter", default=None, metavar="MODULE:FACTORY", help="adapter under test"
    )
    group.addoption(
        "--streamproof-cassettes", default=None, metavar="DIR", help="cassettes to run the suite on"
    )
    group.addoption(
        "--streamproof-adapter-python",
        default=None,
        metavar="PYTHON",
        help="run the adapter in a subprocess of this interpreter (conformance/remote)",
    )
    group.addoption("--streamproof-snapshots", default=None, metavar="DIR", help="event-sequence snapshots")
    group.addoption("--streamproof-report", default=None, metavar="FILE.html", help="write the HTML matrix")
    group.addoption(
        "--streamproof-force-snapshot-update",
        action="store_true",
        default=False,
        help="let --snapshot-update store the events of an adapter other than the reference",
    )


@dataclass(frozen=True)
class SuiteCase:
    """One parametrized item: a case and the check to run on it (``load`` for a cassette that
    does not load)."""

    case: Case | BrokenCassette
    check: str


LOAD_CHECK = "load"  # the one check of a cassette that does not load
MISSING_SNAPSHOT = "a stored snapshot (the reference adapter's: --snapshot-update makes it)"


@dataclass
class SuiteState:
    adapter_spec: str
    cassettes: Path
    snapshots: Path
    report: Path | None
    adapter: ConformanceAdapter | None = None
    adapter_python: str | None = None  # --streamproof-adapter-python: the adapter runs in that interpreter
    loop: asyncio.AbstractEventLoop | None = None
    battery: Battery | None = None  # the current case's: its items run one after another
    case_ids: set[str] = field(default_factory=set)  # every case of the cassettes folder, selected or not
    records: dict[str, CheckRecord] = field(default_factory=dict)  # by node id
    extension: type[JSONSnapshotExtension] | None = None
    unused: list[Path] = field(default_factory=list)
    broken: list[BrokenCassette] = field(default_factory=list)  # cassettes that do not load
    warnings: list[str] = field(default_factory=list)  # told at the end, failing nothing

    def load_adapter(self) -> ConformanceAdapter:
        if self.adapter is None and self.adapter_python:
            from .remote import load_remote_adapter

            self.adapter = load_remote_adapter(self.adapter_python, self.adapter_spec)
        if self.adapter is None:
            from .protocol import load_adapter

            self.adapter = load_adapter(self.adapter_spec)
        return self.adapter


STATE = pytest.StashKey[SuiteState]()


def _state(config: pytest.Config) -> SuiteState:
    state = config.stash.get(STATE, None)
    if state is None:
        from .protocol import DEFAULT_ADAPTER

        cassettes = Path(config.getoption("streamproof_cassettes") or bundled_cassettes())
        snapshots = config.getoption("streamproof_snapshots")
        if snapshots is None:
            snapshots = (
                SHIPPED_SNAPSHOTS
                if cassettes.resolve() == bundled_cassettes().resolve()
                else cassettes / "__snapshots__"
            )
        report = config.getoption("streamproof_report")
        state = SuiteState(
            adapter_spec=config.getoption("streamproof_adapter") or DEFAULT_ADAPTER,
            cassettes=cassettes,
            snapshots=Path(snapshots),
            report=Path(report) if report else None,
            adapter_python=config.getoption("streamproof_adapter_python"),
        )
        config.stash[STATE] = state
    return state


def suite_requested(config: pytest.Config) -> bool:
    return bool(config.getoption("streamproof_adapter") or config.getoption("streamproof_cassettes"))


def snapshot_update_refusal(adapter_spec: str, cassettes: object) -> str:
    """Why ``--snapshot-update`` may not run for ``adapter_spec`` ("" for the reference): the snapshots
    are the reference's events, which every adapter is compared with."""
    from .libraries import LIBRARY_ADAPTERS
    from .protocol import DEFAULT_ADAPTER

    spec = adapter_spec.strip()
    if LIBRARY_ADAPTERS.get(spec, (spec, None))[0] == DEFAULT_ADAPTER:  # ``reference`` is it too
        return ""
    return (
        f"refusing --snapshot-update for {adapter_spec}: the snapshots hold the reference adapter's "
        f"events, which every adapter is compared with; make them with the reference "
        f"(streamproof check --cassettes {cassettes} --snapshot-update), or pass "
        "--force-snapshot-update (pytest: --streamproof-force-snapshot-update) to store this adapter's events"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "streamproof: a streamproof conformance check")
    config.pluginmanager.register(SuiteRecorder(config), "streamproof-recorder")
    cassettes = config.getoption("streamproof_cassettes")
    if cassettes and not Path(cassettes).exists():
        raise pytest.UsageError(f"--streamproof-cassettes {cassettes}: no such file or folder")
    adapter = config.getoption("streamproof_adapter")
    forced = config.getoption("streamproof_force_snapshot_update")
    if adapter and config.getoption("update_snapshots", False) and not forced:
        refusal = snapshot_update_refusal(adapter, cassettes or bundled_cassettes())
        if refusal:
            raise pytest.UsageError(refusal)
    if suite_requested(config) and str(SUITE_MODULE) not in config.args:
        config.args.append(str(SUITE_MODULE))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "streamproof_case" not in metafunc.fixturenames:
        return
    from .battery import discover_cases
    from .protocol import ITEMS

    state = _state(metafunc.config)
    gaps = state.load_adapter().known_gaps
    params = []
    state.broken.clear()
    for case in discover_cases(state.cassettes, state.broken):
        state.case_ids.add(case.id)
        for check in ITEMS:
            reason = known_gap(gaps, case, check)
            marks = [pytest.mark.streamproof]
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=False))
            # dots, not slashes, in ids: they name the snapshot files too
            case_id = case.id.replace("/", ".")
            params.append(pytest.param(SuiteCase(case, check), id=f"{case_id}-{check}", marks=marks))
    for broken in state.broken:
        case_id = broken.id.replace("/", ".")
        item = SuiteCase(broken, LOAD_CHECK)
        params.append(pytest.param(item, id=f"{case_id}-{LOAD_CHECK}", marks=[pytest.mark.streamproof]))
    metafunc.parametrize("streamproof_case", params)


def known_gap(gaps: dict[str, str] | Any, case: Case, check: str) -> str | None:
    """The declared reason when ``check`` on ``case`` is a known gap (``check`` or ``check:case-glob``).
    ``faults`` covers every ``faults[kind]`` item; ``faults[stall]`` (or ``faults.stall``) one."""
    base = check.partition("[")[0]
    for key, reason in gaps.items():
        name, _, pattern = key.partition(":")
        if name.startswith("faults."):
            name = f"faults[{name.partition('.')[2]}]"
        if name in (check, base) and (not pattern or fnmatch.fnmatch(case.id, pattern)):
            return str(reason)
    return None


def run_case_check(config: pytest.Config, item: SuiteCase, node: pytest.Item) -> Verdict:
    """Runs one check (sharing the case's battery, so the plain run is made once per case).

    A cassette that did not load fails its ``load`` check with the problem. When the suite itself
    crashes while judging (its bug, or an adapter's output it did not foresee), the item's record
    says ``error`` with the traceback and the exception goes on to pytest, which fails the item."""
    from .battery import Battery, BrokenCassette, Verdict

    case = item.case
    if isinstance(case, BrokenCassette):
        verdict = Verdict(LOAD_CHECK, "fail", case.problem)
        attach(node, CheckRecord.of(case, item.check, verdict))
        return verdict
    state = _state(config)
    try:
        battery = state.battery
        if battery is None or battery.case.id != case.id:
            # a case's items are collected together, so the last case's runs are done with: kept,
            # every run's events would stay alive to the end and slow every full garbage collection
            battery = state.battery = Battery(state.load_adapter(), case)
        if state.loop is None:
            state.loop = asyncio.new_event_loop()
        verdict = state.loop.run_until_complete(battery.run(item.check))
    except Exception as exc:  # recorded and re-raised: pytest still fails the item with it
        record = CheckRecord(case.id, case.provider, case.api, item.check, "error")
        record.message = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
        attach(node, record)
        raise
    attach(node, CheckRecord.of(case, item.check, verdict))
    return verdict


def attach(node: pytest.Item, record: CheckRecord) -> None:
    """Puts ``record`` on the item's report as JSON (the one JUnit shows as the property's value and
    that travels across xdist), replacing an earlier one."""
    node.user_properties[:] = [p for p in node.user_properties if p[0] != RECORD_PROPERTY]
    node.user_properties.append((RECORD_PROPERTY, json.dumps(asdict(record), default=str)))


def suite_adapter(config: pytest.Config) -> ConformanceAdapter:
    """The adapter under test of this run."""
    return _state(config).load_adapter()


def stored_snapshot(config: pytest.Config, case: Case) -> dict[str, Any] | None:
    """The stored snapshot of ``case``, or None when there is none."""
    path = _state(config).snapshots / SUITE_MODULE.stem / snapshot_name(case.id)
    if not path.exists():
        return None
    stored: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return stored


def snapshot_mismatch(
    config: pytest.Config,
    node: pytest.Item,
    case: Case,
    data: dict[str, Any],
    normalize: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> str:
    """Records, for the report, where the run's events first differ from the stored snapshot
    (both sides passed through ``normalize`` when given)."""
    from .battery import Difference, first_difference

    path = _state(config).snapshots / SUITE_MODULE.stem / snapshot_name(case.id)
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if normalize is not None:
            stored = {**stored, "events": normalize(stored.get("events", []))}
            data = {**data, "events": normalize(data["events"])}
        difference = first_difference(stored, data, "snapshot") or Difference("snapshot", stored, data)
        index = event_index(difference.path)
        if index is not None:  # show the whole first differing event, not only its first differing field
            expected, actual = (
                events[index] if index < len(events) else "<no such event>"
                for events in (stored.get("events", []), data["events"])
            )
            difference = Difference(f"snapshot.events[{index}]", expected, actual)
    else:
        difference = Difference("snapshot", MISSING_SNAPSHOT, "none")
    record = CheckRecord(case.id, case.provider, case.api, "snapshot", "fail", str(difference))
    record.show(difference, data["events"])
    if path.exists():  # the stored events beside the run's, over the same window
        expected_events = stored.get("events", [])
        record.expected_events = expected_events[record.first_event : record.first_event + EVENT_WINDOW]
        record.expected_count = len(expected_events)
    attach(node, record)
    return str(difference)


def snapshot_extension(config: pytest.Config) -> type[JSONSnapshotExtension]:
    """syrupy's JSON extension, storing every snapshot flat in the suite's snapshot folder."""
    from syrupy.extensions.json import JSONSnapshotExtension

    state = _state(config)
    if state.extension is None:
        folder = str(state.snapshots)

        class StreamproofSnapshot(JSONSnapshotExtension):
            @classmethod
            def dirname(cls, *, test_location: Any) -> str:
                return str(Path(folder) / test_location.basename)  # <folder>/suite/, the file's stem

        state.extension = StreamproofSnapshot
    return state.extension


class SuiteRecorder:
    """Keeps each conformance item's final status (pass / fail / xfail / skip) for the report."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        found = [value for name, value in report.user_properties if name == RECORD_PROPERTY]
        if not found or not isinstance(found[-1], str) or report.when != "call":
            return
        record = CheckRecord(**json.loads(found[-1]))
        state = _state(self.config)
        _junit_classname(self.config, report, f"{state.adapter_spec}::{record.provider}/{record.api}")
        if hasattr(report, "wasxfail") and report.passed:  # a declared gap whose check passes
            record.status = "xpass"
            record.message = f"stale known gap, the check passes: {report.wasxfail}"
            _junit_property(self.config, report, FINAL_PROPERTY, {"status": "xpass", "message": record.message})
        elif hasattr(report, "wasxfail"):
            record.status, record.message = "xfail", str(report.wasxfail)
        elif report.skipped:
            record.status = "skip"
        elif report.failed and record.status == "error":
            pass  # the suite crashed judging it: the record already holds the traceback
        elif report.failed:
            judged = record.difference or record.status == "fail"  # the verdict's own failure, not pytest's
            record.status = "fail"
            record.message = record.message if judged else _last_line(report)
        else:
            record.status, record.message = "pass", ""
        state.records[report.nodeid] = record


def _junit_classname(config: pytest.Config, report: pytest.TestReport, classname: str) -> None:
    """JUnit's ``classname`` of the item: the adapter and provider/API, so CI groups by them
    (pytest's own would be ``suite``, the same for every item). User attributes win over pytest's."""
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.node_reporter(report).add_attribute("classname", classname)


def _junit_property(config: pytest.Config, report: pytest.TestReport, name: str, value: object) -> None:
    """One more JSON property of the item's JUnit test case (written as pytest writes the others)."""
    from _pytest.junitxml import xml_key

    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.node_reporter(report).add_property(name, json.dumps(value))


def _last_line(report: pytest.TestReport) -> str:
    lines = str(report.longreprtext).strip().splitlines()
    return lines[-1] if lines else "failed"


def snapshot_name(case_id: str) -> str:
    """The snapshot file of a case (syrupy names it after the test item)."""
    return f"test_conformance[{case_id.replace('/', '.')}-snapshot].json"


def unused_snapshots(state: SuiteState) -> list[Path]:
    """Snapshot files of cases the cassettes folder no longer has (syrupy cannot see them: the
    snapshot folder is not beside the test module)."""
    if not state.case_ids:
        return []
    wanted = {snapshot_name(case_id) for case_id in state.case_ids}
    # a cassette that does not load has not gone away: its snapshots wait for it to be repaired
    unread = tuple(f"test_conformance[{broken.scenario.replace('/', '.')}#" for broken in state.broken)
    folder = state.snapshots / SUITE_MODULE.stem
    found = (path for path in folder.glob("*.json") if path.name.startswith("test_conformance["))
    return sorted(path for path in found if path.name not in wanted and not path.name.startswith(unread))


def unmatched_gaps(state: SuiteState) -> list[str]:
    """A warning for each declared gap whose case glob matches no case of the cassettes folder
    (a typo, or a case that is gone: the gap hides nothing and should be fixed or dropped)."""
    if not state.case_ids:
        return []
    from .protocol import AdapterLoadError

    try:
        gaps = state.load_adapter().known_gaps
    except AdapterLoadError:  # already the run's failure (collection): nothing to add here
        return []
    found = []
    for key in gaps:
        pattern = key.partition(":")[2]
        if pattern and not any(fnmatch.fnmatch(case_id, pattern) for case_id in state.case_ids):
            found.append(f"known gap {key!r}: its case glob {pattern!r} matches no case")
    return found


def nothing_checked(records: list[CheckRecord], cassettes: Path) -> str:
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


@pytest.hookimpl(trylast=True)  # after syrupy, which sets the exit status too
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or hasattr(session.config, "workerinput"):  # an xdist worker: the controller reports
        if state is not None and state.loop is not None:
            state.loop.close()
        return
    if not state.case_ids and suite_requested(session.config):  # the xdist controller collects nothing
        from .battery import discover_cases

        state.broken.clear()
        state.case_ids = {case.id for case in discover_cases(state.cassettes, state.broken)}
    state.warnings = unmatched_gaps(state)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    records = list(state.records.values())
    # cases found but none selected (-k): the caller chose that; otherwise a run that checked
    # nothing must not pass
    nothing = nothing_checked(records, state.cassettes) if records or not state.case_ids else ""
    if nothing and suite_requested(session.config) and session.exitstatus == pytest.ExitCode.OK:
        if reporter is not None:
            reporter.write_line(f"streamproof: nothing was checked: {nothing}")
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
    for warning in state.warnings:
        if reporter is not None:
            reporter.write_line(f"streamproof: warning: {warning}")
    stale = unused_snapshots(state)
    if stale and session.config.getoption("update_snapshots", False):
        for path in stale:
            path.unlink()
    elif stale:
        names = ", ".join(path.name for path in stale)
        if reporter is not None:
            reporter.write_line(
                f"streamproof: {len(stale)} unused snapshot(s) (run with --snapshot-update to delete): {names}"
            )
        state.unused = stale
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.loop is not None:
        state.loop.close()
    if state.report is not None and state.records:
        from .report import write_html

        write_html(state.report, state.adapter_spec, list(state.records.values()))
