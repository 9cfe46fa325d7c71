"""``request``: the request sent has the recorded stream flag, usage request, model, tools (as
canonical JSON Schema), messages, max tokens, tool_choice and reasoning settings
(``request_check``); what the adapter added is a warning; a request without the stream flag fails
here once, and the checks it breaks are skipped (``Battery.run``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from ...harness.cassette import api_for_path
from ..request_check import compare_requests
from ..runs import CaseRuns, Difference, Verdict
from .registry import register


@register("request")
async def check_request(runs: CaseRuns, _kind: str | None) -> Verdict:
    run = await runs.plain_run()
    recorded = runs.case.interaction.request.json()
    if not run.requests:
        return runs.verdict("request", Difference("request", "one request sent", "none"), run)
    first = run.requests[0]
    sent = first.body if isinstance(first.body, dict) else {}
    api = api_for_path(urlsplit(first.url).path)
    if api != runs.case.api:
        return runs.verdict("request", Difference("request.api", runs.case.api, api), run)
    if runs.case.asks_stream and not runs.sends_stream(run):
        difference = Difference(
            "request.stream", True, f"{sent.get('stream')!r}: the request lacks the recorded stream flag"
        )
        return runs.verdict("request", difference, run)
    comparison = compare_requests(
        runs.case.format.name,
        recorded,
        sent,
        recorded_url=str(runs.case.interaction.request.uri),
        sent_url=first.url,
    )
    differences = [Difference(path, wanted, got) for path, wanted, got in comparison.differences]
    verdict = runs.verdicts("request", differences, run)  # field gaps (request.thinking) apply
    verdict.warnings = comparison.warnings
    return verdict
