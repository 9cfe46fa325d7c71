"""The registry of the battery's checks: each check module registers its check by name.

A check is an async function of the case's shared runs (``runs.CaseRuns``) giving a ``Verdict``;
one that judges one kind at a time (``faults[rate_limit]``, ...) takes the kind too. Its
``conditions`` say when it does not apply to a case or adapter (the reason, or None), in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..runs import CaseRuns, Verdict

Condition = Callable[[CaseRuns], "str | None"]
Judge = Callable[[CaseRuns, "str | None"], Awaitable[Verdict]]


@dataclass(frozen=True)
class Check:
    name: str
    judge: Judge  # (runs, kind): kind is None but for an item ``name[kind]``
    conditions: tuple[Condition, ...] = ()

    def not_applicable(self, runs: CaseRuns) -> str | None:
        """Why the check does not apply to this case and adapter, or None when it does."""
        for condition in self.conditions:
            reason = condition(runs)
            if reason is not None:
                return reason
        return None


CHECK_REGISTRY: dict[str, Check] = {}

_J = TypeVar("_J", bound=Judge)


def register(name: str, *conditions: Condition) -> Callable[[_J], _J]:
    """Registers the decorated judge as the check ``name`` (once: a second one is a bug)."""

    def add(judge: _J) -> _J:
        if name in CHECK_REGISTRY:
            raise ValueError(f"check {name!r} is registered twice")
        CHECK_REGISTRY[name] = Check(name, judge, conditions)
        return judge

    return add


# the conditions several checks share
def successful_stream(runs: CaseRuns) -> str | None:
    return None if runs.case.streamed else "the recorded response is not a successful stream"


def ends_cleanly(runs: CaseRuns) -> str | None:
    return None if runs.expected.error is None else "the recorded stream fails before it ends"


def declares_traces(runs: CaseRuns) -> str | None:
    return None if runs.adapter.capabilities.traces else "the adapter declares no traces"


def declares_cancellation(runs: CaseRuns) -> str | None:
    return None if runs.adapter.capabilities.cancellation else "the adapter declares no cancellation support"
