"""``outcome``: the adapter's result, and its events folded together, equal the oracle's answer:
text, reasoning, signatures, tool calls (arguments as parsed JSON unless the adapter claims
``exact_arguments``), usage, stop reasons, error class; every differing field is named."""

from __future__ import annotations

from ..runs import CaseRuns, Verdict, outcome_differences
from .registry import register


@register("outcome")
async def check_outcome(runs: CaseRuns, _kind: str | None) -> Verdict:
    run = await runs.plain_run()
    exact = runs.adapter.capabilities.exact_arguments
    return runs.verdicts("outcome", outcome_differences(runs.expected, run, exact), run)
