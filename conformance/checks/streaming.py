"""``streaming``: the first event arrives before the last byte is delivered (the transport holds the
tail back until it sees the first event, or gives up after a while, then sends it later)."""

from __future__ import annotations

from ..runs import CaseRuns, Difference, Verdict
from .registry import ends_cleanly, register, successful_stream


@register("streaming", successful_stream, ends_cleanly)
async def check_streaming(runs: CaseRuns, _kind: str | None) -> Verdict:
    if all(event["kind"] == "stop" for event in (await runs.plain_run()).events):
        return Verdict(
            "streaming", "skip", "the stream carries only its stop reason, which comes with the last byte"
        )
    run = await runs.held_run()
    if run.first_event_before_last_byte:
        return runs.verdict("streaming", None, run)
    got = "no event at all" if not run.events else "the first event only after the last byte was delivered"
    difference = Difference("events[0]", "an event before the last byte is delivered", got)
    return runs.verdict("streaming", difference, run)
