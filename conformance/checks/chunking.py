"""``chunking``: the same outcome and events under seeded random chunking and byte by byte."""

from __future__ import annotations

from ...harness.rechunk import at_random_offsets, byte_by_byte
from ..runs import BYTE_BY_BYTE_LIMIT, CHUNK_SEEDS, CaseRuns, Verdict, first_difference, run_outcome
from .registry import register, successful_stream


@register("chunking", successful_stream)
async def check_chunking(runs: CaseRuns, _kind: str | None) -> Verdict:
    body = runs.served.body
    baseline = await runs.plain_run()
    splits = {f"random(seed={seed})": at_random_offsets(body, seed) for seed in CHUNK_SEEDS}
    head = list(byte_by_byte(body[:BYTE_BY_BYTE_LIMIT]))
    splits["byte_by_byte"] = head + at_random_offsets(body[BYTE_BY_BYTE_LIMIT:], CHUNK_SEEDS[0])
    wanted = {"outcome": run_outcome(baseline), "events": baseline.events}
    for label, chunks in splits.items():
        run = await runs.call(runs.case, runs.served, chunks, deadline_s=runs.deadline_s)
        found = first_difference(wanted, {"outcome": run_outcome(run), "events": run.events}, label)
        if found:
            return runs.verdict("chunking", found, run)
    return runs.verdict("chunking", None, baseline)
