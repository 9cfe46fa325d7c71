"""``cancellation``: a consumer that stops after the first event gets no error, a trace is written
and no task is left behind."""

from __future__ import annotations

from ..runs import CaseRuns, Difference, Verdict
from .registry import declares_cancellation, ends_cleanly, register, successful_stream


@register("cancellation", successful_stream, ends_cleanly, declares_cancellation)
async def check_cancellation(runs: CaseRuns, _kind: str | None) -> Verdict:
    run = await runs.call(runs.case, runs.served, stop_after_events=1, deadline_s=runs.deadline_s)
    found: Difference | None = None
    if run.timed_out or run.error is not None:
        got = "a hang" if run.timed_out else f"{type(run.error).__name__}: {run.error}"
        found = Difference("close after the first event", "no error", got)
    elif runs.adapter.capabilities.traces and len(run.traces) != 1:
        found = Difference("traces after close", "exactly 1 trace", f"{len(run.traces)} traces")
    elif run.leftover_tasks:
        found = Difference("tasks after close", [], run.leftover_tasks)
    return runs.verdict("cancellation", found, run)
