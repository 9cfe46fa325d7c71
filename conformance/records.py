"""The record of one conformance item (status, first difference, the events around it): plain data
that rides on the item's test report as a user property (across pytest-xdist too), read by the
plugin's summary, the HTML report, ``streamproof check`` and the matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runs import BrokenCassette, Case, Difference, Verdict

RECORD_PROPERTY = "streamproof"  # the user property an item's record travels in (also across xdist)
# the item's final status where JUnit cannot tell it: a stale gap (XPASS) is a plain pass there
FINAL_PROPERTY = "streamproof-final"
EVENT_WINDOW = 8  # events kept around the first difference, for the report


@dataclass
class CheckRecord:
    """What the report shows for one item: plain data, so it can ride on the test report."""

    case_id: str
    provider: str
    api: str
    check: str
    status: str = "fail"
    message: str = ""
    difference: dict[str, Any] | None = None  # path, expected, actual
    events: list[dict[str, Any]] = field(default_factory=list)  # a window of the run's events
    first_event: int = 0  # the run's index of events[0]
    traceback: str = ""  # status "error": the suite crashed while judging this check
    adapter_traceback: str = ""  # a failure on an exception of the adapter: where it raised
    event_count: int = 0  # how many events the run had (the window is a part of them)
    expected_events: list[dict[str, Any]] = field(default_factory=list)  # the snapshot's, same window
    expected_count: int = 0
    warnings: list[str] = field(default_factory=list)  # told, failing nothing (request additions)

    @classmethod
    def of(cls, case: Case | BrokenCassette, check: str, verdict: Verdict) -> CheckRecord:
        record = cls(case.id, case.provider, case.api, check, verdict.status, verdict.message)
        record.adapter_traceback = verdict.adapter_traceback
        record.warnings = list(verdict.warnings)
        record.show(verdict.difference, verdict.events)
        return record

    def show(self, difference: Difference | None, events: list[dict[str, Any]]) -> None:
        """Keeps the difference and the events around the one it names (or the first ones)."""
        if difference is not None:
            self.difference = {
                "path": difference.path,
                "expected": difference.expected,
                "actual": difference.actual,
            }
        marked = event_index(difference.path) if difference is not None else None
        self.first_event = max(0, (marked or 0) - 3)
        self.events = events[self.first_event : self.first_event + EVENT_WINDOW]
        self.event_count = len(events)


def event_index(path: str) -> int | None:
    """``snapshot.events[3].text`` -> 3; None when the difference is not in the event list."""
    head, _, rest = path.partition("events[")
    if not rest or head.startswith("outcome"):
        return None
    number = rest.split("]", 1)[0]
    return int(number) if number.isdigit() else None
