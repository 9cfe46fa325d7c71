"""The battery: eight checks per recorded interaction (a ``Case``) and adapter, found by name in the
registry of ``checks/`` (a module per check) and run in the order of ``protocol.CHECKS``.

1. ``outcome``       the adapter's result, and its events folded together, equal the oracle's
                     answer (``oracle.expected_outcome``): text, reasoning, signatures, tool calls
                     (arguments as parsed JSON unless the adapter claims ``exact_arguments``),
                     usage, stop reasons, error class;
2. ``streaming``     the first event arrives before the last byte is delivered (the transport holds
                     the tail back until it sees the first event, or gives up after a while, then
                     sends it ``PACED_TAIL_S`` later; the tail starts at the stream's terminal
                     event, ``held_chunks``);
3. ``chunking``      the same outcome and events under seeded random chunking and byte by byte;
4. ``faults``        each fault injected into the recorded response gives the right error class,
                     within a deadline, after exactly one request, with exactly one error trace
                     (a rate limit's error carries the retry-after); one verdict per fault kind,
                     the items ``faults[rate_limit]``, ... (``protocol.ITEMS``);
5. ``traces``        exactly one trace per call, with the billing context, the result's usage, and
                     latency and time to first token set; on the paced streaming run the latency
                     covers the held tail and the first token came before it;
6. ``cancellation``  a consumer that stops after the first event gets no error, a trace is written
                     and no task is left behind;
7. ``request``       the request sent has the recorded stream flag, usage request, model, tools (as
                     canonical JSON Schema), messages, max tokens, tool_choice and reasoning
                     settings (``request_check``); what the adapter added is a warning; a request
                     without the stream flag fails here once, and the checks it breaks are skipped;
8. ``snapshot``      the canonical event sequence (ids and times normalized) equals the stored
                     snapshot — compared by the pytest plugin with syrupy; ``snapshot_data`` gives it.

A failed check names its first differing field or event (``Difference``); ``outcome`` and
``request`` list every differing field. Differences only in fields the adapter declared known
gaps (``outcome.usage.cache_write_tokens``) are an expected failure; any other one still fails.
A call that tries to reach the network outside the cassette fails every check of its case.
"""

from __future__ import annotations

from .checks import CHECK_REGISTRY, Check
from .checks.faults import InjectedFault, faults_for
from .checks.snapshot import coalesced, snapshot_data
from .protocol import CHECKS, ConformanceAdapter
from .runs import (
    RUN_DEADLINE_S,
    BrokenCassette,
    Case,
    CaseRuns,
    ConformanceWarning,
    Difference,
    Run,
    Verdict,
    canonical_event,
    discover_cases,
    first_difference,
    run_call,
    with_empty_arguments,
)

__all__ = [
    "Battery",
    "BrokenCassette",
    "Case",
    "ConformanceWarning",
    "Difference",
    "InjectedFault",
    "Run",
    "Verdict",
    "canonical_event",
    "coalesced",
    "discover_cases",
    "faults_for",
    "first_difference",
    "run_call",
    "snapshot_data",
    "with_empty_arguments",
]


class Battery(CaseRuns):
    """Runs the checks of one adapter on one case; results are cached per case where runs are shared."""

    def __init__(self, adapter: ConformanceAdapter, case: Case, deadline_s: float = RUN_DEADLINE_S) -> None:
        super().__init__(adapter, case, deadline_s)
        assert set(CHECK_REGISTRY) == set(CHECKS), f"registered {sorted(CHECK_REGISTRY)}, reported {CHECKS}"
        self.checks: dict[str, Check] = {name: CHECK_REGISTRY[name] for name in CHECKS}

    def applicable(self, check: str) -> str | None:
        """Why ``check`` does not apply to this case and adapter, or None when it does."""
        caps, wire = self.adapter.capabilities, self.case.format
        if wire.providers and wire.name not in caps.formats:  # a provider's format of its own
            return f"the adapter does not speak {wire.name}"
        if not wire.providers and self.case.api not in caps.apis:
            return f"the adapter does not speak {self.case.api}"
        return self.checks[check].not_applicable(self)

    async def run(self, check: str) -> Verdict:
        """The verdict of one item: a check, or one kind of it (``faults[stall]``)."""
        name, _, kind = check.partition("[")
        reason = self.applicable(name)
        if reason is not None:
            return Verdict(check, "skip", reason)
        tried = len(self.network)
        verdict = await self.checks[name].judge(self, kind.rstrip("]") or None)
        escaped = (self._plain.network if self._plain is not None else []) + self.network[tried:]
        if escaped:  # whatever else the check saw: the call left the cassette
            hosts = sorted(set(escaped))
            difference = Difference("network", "no connection outside the cassette", hosts)
            return Verdict(
                check,
                "fail",
                f"the call tried to reach {', '.join(hosts)} outside the cassette",
                difference,
                events=verdict.events,
            )
        if verdict.status == "fail" and check != "request" and self.lacks_stream_flag():
            # one cause, one failure: the request check names it; what follows from it is not judged
            return Verdict(
                check, "skip", "the request lacks the recorded stream flag (see the request check)"
            )
        return verdict
