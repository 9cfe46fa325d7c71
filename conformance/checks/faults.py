"""``faults``: each fault injected into the recorded response gives the right error class, within a
deadline, after exactly one request, with exactly one error trace (a rate limit's error carries the
retry-after); one verdict per fault kind, the items ``faults[rate_limit]``, ... (``protocol.ITEMS``).
The faults are harness.faults' shapes of the case's format."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...harness.faults import apply_fault, parse_fault, strike_point
from ...harness.formats import FORMATS as HARNESS_FORMATS
from ...harness.served import ServedResponse
from ..oracle import Expected, expected_for
from ..runs import READ_TIMEOUT_S, Case, CaseRuns, Difference, Verdict, judge_outcome
from .registry import register, successful_stream

# the faults of harness.faults injected into every streamed case; ``after`` is capped for short streams
RETRY_AFTER_S = 1.0  # the rate-limit fault's retry-after: the raised error must carry it
STATUS_FAULT_SPECS = (
    f"rate_limit:retry_after={RETRY_AFTER_S:g}",
    "quota",
    "server_error",
    "unavailable",
    "overloaded",
)
# a dropped connection and a body that just ends (cleanly, without the stream's terminator) both cut
STREAM_FAULT_SPECS = ("mid_stream_error", "cut_events", "cut_events:abort=false", "malformed_chunk")
# the stalled call asks for a shorter read timeout than the others (nothing but its first byte is
# read, so nothing else can time out), which keeps a stall's wait short: 38 stalls were 2 s of a check
STALL_TIMEOUT_S = 0.01
STALL_SPEC = f"stall:seconds={STALL_TIMEOUT_S * 5:g}"  # a slow first byte, well past the read timeout


@dataclass(frozen=True)
class InjectedFault:
    """A fault injected into a recorded streamed response, and the error class it must give."""

    spec: str
    expected_error: str
    served: ServedResponse
    timeout_s: float = READ_TIMEOUT_S  # the read timeout its call asks for

    @property
    def kind(self) -> str:
        """Its item in the faults check (``FAULT_KINDS``): a cut that ends the body cleanly is
        ``clean_end``, apart from the dropped connection."""
        kind = self.spec.partition(":")[0]
        return "clean_end" if kind == "cut_events" and "abort=false" in self.spec else kind


def _with_after(spec: str, after: int) -> str:
    kind, _, params = spec.partition(":")
    return f"{kind}:after={after}" + (f",{params}" if params else "")


def faults_for(case: Case, served: ServedResponse) -> list[InjectedFault]:
    """Each fault kind applied to ``served``; the oracle says which error class each must give."""
    wire = HARNESS_FORMATS[case.format.name]
    after = strike_point(served.body, wire_format=wire.name)
    specs = [*STATUS_FAULT_SPECS, *(_with_after(spec, after) for spec in STREAM_FAULT_SPECS)]
    # the format's other shapes of a mid-stream error (Groq's on Chat, Responses' error event, ...)
    specs += [f"mid_stream_error:after={after},style={style}" for style in wire.styles]
    injected = []
    for spec in specs:
        faulty = apply_fault(served, parse_fault(spec), wire_format=wire.name)
        expected = expected_for(
            case.api, faulty.status, faulty.body, provider=case.provider, headers=dict(faulty.headers)
        ).error
        assert expected is not None, f"fault {spec} left {case.id} a successful stream"
        injected.append(InjectedFault(spec, expected, faulty))
    stalled = apply_fault(served, parse_fault(STALL_SPEC), wire_format=wire.name)
    injected.append(InjectedFault(STALL_SPEC, "LLMTimeoutError", stalled, STALL_TIMEOUT_S))
    return injected


@register("faults", successful_stream)
async def check_faults(runs: CaseRuns, kind: str | None) -> Verdict:
    """Every fault (or those of one ``kind``: the verdict of the item ``faults[kind]``)."""
    name = f"faults[{kind}]" if kind else "faults"
    baseline = await runs.plain_run()
    faults = [f for f in runs.shared(faults_for) if kind is None or f.kind == kind]
    if not faults:
        return Verdict(name, "skip", f"no {kind} fault applies to this stream")
    for fault in faults:
        run = await runs.call(runs.case, fault.served, deadline_s=runs.deadline_s, timeout_s=fault.timeout_s)
        found = judge_outcome(Expected(error=fault.expected_error), run)
        if found is None and len(run.requests) != 1:  # the protocol says no retries
            found = Difference("requests sent", 1, len(run.requests))
        if found is None and fault.kind == "rate_limit":
            waited = getattr(run.error, "retry_after", None)
            if waited != RETRY_AFTER_S:
                found = Difference("error.retry_after", RETRY_AFTER_S, waited)
        if found is None and runs.adapter.capabilities.traces:
            statuses = [trace.get("status") for trace in run.traces]
            if statuses != ["error"]:
                found = Difference("traces", ["error"], statuses)
        if found is not None:
            return runs.verdict(name, replace(found, path=f"{fault.spec}: {found.path}"), run)
    return runs.verdict(name, None, baseline)
