"""``traces``: exactly one trace per call, with the billing context, the result's usage, and latency
and time to first token set; on the paced streaming run the latency covers the held tail and the
first token came before it."""

from __future__ import annotations

from typing import Any

from ..oracle import USAGE_FIELDS
from ..runs import (
    BILLING,
    PACED_TAIL_S,
    CaseRuns,
    Difference,
    Run,
    Verdict,
    first_difference,
    outcome_of_result,
)
from .registry import declares_traces, register


@register("traces", declares_traces)
async def check_traces(runs: CaseRuns, _kind: str | None) -> Verdict:
    run = await runs.plain_run()
    if len(run.traces) != 1:
        return runs.verdict(
            "traces", Difference("traces", "exactly 1 trace", f"{len(run.traces)} traces"), run
        )
    trace = run.traces[0]
    wanted: dict[str, Any] = {
        "status": "error" if run.error is not None else "success",
        "billing": BILLING.model_dump(mode="json"),
    }
    actual: dict[str, Any] = {"status": trace.get("status"), "billing": trace.get("billing")}
    result_usage = outcome_of_result(run.result).get("usage") if run.result is not None else None
    if run.error is None and result_usage is not None:  # an unreadable result is outcome's failure
        wanted["usage"] = result_usage
        actual["usage"] = {name: (trace.get("usage") or {}).get(name) for name in USAGE_FIELDS}
    found = first_difference(wanted, actual, "trace")
    if found is None:
        found = _timing_problem(trace, run)
    if (
        found is None
        and runs.case.streamed
        and runs.expected.error is None  # the streaming check applies
        and any(e["kind"] != "stop" for e in run.events)
    ):
        held = await runs.held_run()
        # a buffering adapter: streaming says so; one that failed before the held tail came
        # never waited for it (outcome judges the failure)
        if held.first_event_before_last_byte and held.last_byte_read and len(held.traces) == 1:
            found = _paced_timing_problem(held.traces[0], held)
            run = held if found is not None else run
    return runs.verdict("traces", found, run)


def _paced_timing_problem(trace: dict[str, Any], run: Run) -> Difference | None:
    """On the paced run (the tail ``PACED_TAIL_S`` after the first event): the latency covers
    the hold, in milliseconds, and the first token came before it."""
    latency, ttft = trace.get("latency_ms"), trace.get("ttft_ms")
    hold_ms = PACED_TAIL_S * 1000
    if not isinstance(latency, (int, float)) or not hold_ms <= latency <= run.wall_ms + 5:
        wanted = f"milliseconds in [{hold_ms:g}, {run.wall_ms:.0f}] (the tail came {hold_ms:g} ms after the first event)"
        return Difference("trace.latency_ms", wanted, latency)
    if not isinstance(ttft, (int, float)) or not 0 < ttft <= latency - hold_ms / 2:
        wanted = f"before the held tail: in (0, {latency - hold_ms / 2:.0f}] ms"
        return Difference("trace.ttft_ms", wanted, ttft)
    return None


def _timing_problem(trace: dict[str, Any], run: Run) -> Difference | None:
    latency, ttft = trace.get("latency_ms"), trace.get("ttft_ms")
    if not isinstance(latency, (int, float)) or latency <= 0:
        return Difference("trace.latency_ms", "a positive number", latency)
    if run.events and (not isinstance(ttft, (int, float)) or not 0 < ttft <= latency):
        return Difference("trace.ttft_ms", f"a number in (0, latency_ms={latency}]", ttft)
    return None
