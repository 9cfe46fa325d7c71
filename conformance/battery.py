"""The battery: eight checks per recorded interaction (a ``Case``) and adapter.

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

import asyncio
import contextlib
import fnmatch
import json
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx2
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..adapters import errors
from ..adapters.billing import BillingContext
from ..adapters.events import LLMResult, StreamEvent, Usage
from ..harness.cassette import Interaction, api_for_path, load_cassette
from ..harness.faults import apply_fault, parse_fault, strike_point
from ..harness.foreign_shapes import cassette_files, cassette_stem
from ..harness.rechunk import at_events, at_offsets, at_random_offsets, byte_by_byte
from ..harness.served import ServedResponse, served_from_interaction
from .oracle import USAGE_FIELDS, Expected, expected_for, expected_outcome
from .protocol import CHECKS, ConformanceAdapter, ConformanceCall, TraceCollector
from .request_check import compare_requests
from .transport import CaseTransport, NetworkAttempts, SentRequest, guard_network, intercept_pools

Status = Literal["pass", "fail", "xfail", "skip"]

RUN_DEADLINE_S = 10.0  # no single call may take longer: a hang is a failure, not a stuck suite
READ_TIMEOUT_S = 0.05  # the read timeout the suite asks for; the transport enforces it when a response stalls
TASK_GRACE_S = 0.2  # how long tasks the call spawned may take to finish after it ended
HOLD_LAST_CHUNK_S = 0.5  # how long the streaming check waits for a first event before the last byte
PACED_TAIL_S = 0.03  # then the tail comes this much later: latency and ttft must show the hold
BYTE_BY_BYTE_LIMIT = 4_096  # longer bodies are fed byte by byte up to here, then in random chunks
CHUNK_SEEDS = (7, 1337)
BILLING = BillingContext(plan_type="pro", cost_source="credits", customer_id="cust-conformance-1")
API_KEYS = {"messages": "sk-ant-api03-streamproof-conformance", "chat": "sk-streamproof-conformance"}
_EVENT = TypeAdapter(StreamEvent)
_API_SUFFIX = {"chat": "/chat/completions", "responses": "/responses", "messages": "/v1/messages"}


@dataclass(frozen=True)
class Case:
    """One recorded interaction the battery runs on."""

    cassette: Path
    root: Path
    interaction: Interaction

    @property
    def api(self) -> str:
        return str(self.interaction.api)

    @property
    def provider(self) -> str:
        return str(self.interaction.provider)

    @property
    def scenario(self) -> str:
        """The cassette's path under the cassettes folder, without ``.yaml``."""
        return cassette_stem(self.cassette.relative_to(self.root)).as_posix()

    @property
    def id(self) -> str:
        return f"{self.scenario}#{self.interaction.index}"

    @property
    def streamed(self) -> bool:
        return bool(self.interaction.response.is_sse and self.interaction.response.status < 400)

    @property
    def base_url(self) -> str:
        uri = str(self.interaction.request.uri).split("?")[0]
        suffix = _API_SUFFIX[self.api]
        return uri[: -len(suffix)] if uri.endswith(suffix) else uri.rsplit("/", 1)[0]


@dataclass(frozen=True)
class BrokenCassette:
    """A cassette of the folder that does not load: it fails its own ``load`` case, not the run."""

    cassette: Path
    root: Path
    problem: str  # the CassetteError's message: the file and what is wrong with it

    @property
    def scenario(self) -> str:
        return self.cassette.relative_to(self.root).with_suffix("").as_posix()

    @property
    def id(self) -> str:
        return f"{self.scenario}#load"

    def _layout(self, part: int) -> str:
        parts = self.cassette.relative_to(self.root).parts  # <provider>/<api>/<scenario>.yaml
        return parts[part] if len(parts) == 3 else "-"

    @property
    def provider(self) -> str:
        return self._layout(0)

    @property
    def api(self) -> str:
        return self._layout(1)


def discover_cases(root: Path, broken: list[BrokenCassette] | None = None) -> list[Case]:
    """Every streamed chat / responses / messages POST in the cassettes under ``root`` (or one file).

    A cassette that does not load raises its ``CassetteError``, or, given a ``broken`` list, is
    appended there and the others are still read."""
    root = Path(root)
    files = [root] if root.is_file() else cassette_files(root)
    base = root.parent if root.is_file() else root
    cases = []
    for path in files:
        try:
            interactions = load_cassette(path).interactions
        except errors.CassetteError as exc:
            if broken is None:
                raise
            broken.append(BrokenCassette(path, base, str(exc)))
            continue
        for interaction in interactions:
            request = interaction.request.json()
            asks_stream = isinstance(request, dict) and request.get("stream") is True
            if (
                interaction.api == "other"
                or interaction.request.method != "POST"
                or not isinstance(request, dict)
            ):
                continue
            if interaction.response.is_sse or (interaction.response.status >= 400 and asks_stream):
                cases.append(Case(path, base, interaction))
    return cases


@dataclass(frozen=True)
class Difference:
    """The first place where what the adapter did differs from what it should have done."""

    path: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.path}: expected {_short(self.expected)}, got {_short(self.actual)}"


class ConformanceWarning(UserWarning):
    """Something worth telling that fails no check (a field the adapter added to the request)."""


@dataclass
class Verdict:
    check: str
    status: Status
    message: str = ""
    difference: Difference | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # the events of the run the verdict judged
    warnings: list[str] = field(default_factory=list)  # worth telling, not failing (request additions)
    adapter_traceback: str = ""  # a failure on what the adapter raised: where it raised (last frames)


@dataclass
class Run:
    """What one call through the adapter gave."""

    events: list[dict[str, Any]] = field(default_factory=list)
    result: object | None = None
    error: BaseException | None = None
    timed_out: bool = False
    invalid_event: str | None = None
    traces: list[dict[str, Any]] = field(default_factory=list)
    requests: list[SentRequest] = field(default_factory=list)
    first_event_before_last_byte: bool | None = None
    last_byte_read: bool = False  # the adapter read the response to its last chunk
    leftover_tasks: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)  # hosts tried outside the cassette during the call
    wall_ms: float = 0.0  # how long the call took, as the suite measured it


ADAPTER_FRAMES = 6  # the innermost frames of an adapter's exception shown: its code, not the suite's


def adapter_frames(exc: BaseException) -> str:
    """Where ``exc`` was raised: the traceback's last frames (file:line and code), and the exception."""
    remote = getattr(exc, "remote_traceback", None)  # raised by an adapter in its own interpreter
    if isinstance(remote, str) and remote:
        return remote
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-ADAPTER_FRAMES))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 160 else text[:157] + "..."


def canonical_event(event: object) -> dict[str, Any]:
    """An adapter's event (ours or a dict of the same shape) without its ids; invalid → ValueError."""
    if isinstance(event, dict):
        event = _EVENT.validate_python({"message_id": "-", "event_id": "-", **event})
    dump = getattr(event, "model_dump", None)
    if not callable(dump):
        raise ValueError(f"{type(event).__name__} is neither a canonical event nor a dict")
    data: dict[str, Any] = dump(mode="json", exclude={"message_id", "event_id"})
    return data


class _PlainToolCall(BaseModel):
    id: str = ""
    name: str = ""
    arguments: str = ""


class PlainResult(BaseModel):
    """A result given as a dict (the protocol's alternative to ``LLMResult``)."""

    text: str = ""
    reasoning: str = ""
    signatures: list[str] = Field(default_factory=list)
    tool_calls: list[_PlainToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    stop_reason: str | None = None
    provider_stop_reason: str | None = None


_PLAIN_RESULT = TypeAdapter(PlainResult)


def outcome_of_result(result: object) -> dict[str, Any]:
    """The adapter's final result, in the oracle's shape."""
    if isinstance(result, LLMResult):
        return {
            "text": result.text,
            "reasoning": result.reasoning_text,
            "signatures": [block.signature for block in result.reasoning if block.signature],
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls],
            "usage": result.usage.public_dict(),
            "stop_reason": result.stop_reason,
            "provider_stop_reason": result.provider_stop_reason,
            "error": None,
        }
    if isinstance(result, dict):
        try:
            plain = _PLAIN_RESULT.validate_python(result)
        except ValidationError as exc:
            return {
                "unreadable_result": f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
            }
        return {
            "text": plain.text,
            "reasoning": plain.reasoning,
            "signatures": plain.signatures,
            "tool_calls": [call.model_dump() for call in plain.tool_calls],
            "usage": plain.usage.public_dict(),
            "stop_reason": plain.stop_reason,
            "provider_stop_reason": plain.provider_stop_reason,
            "error": None,
        }
    return {"unreadable_result": repr(result)}


def outcome_of_events(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Text, reasoning, signatures and tool calls as the events tell them."""
    text, reasoning, signatures = [], [], []
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        kind = event["kind"]
        if kind == "text":
            text.append(event["text"])
        elif kind == "reasoning":
            reasoning.append(event["text"])
            if event.get("signature"):
                signatures.append(event["signature"])
        elif kind in ("tool_call", "approval_request"):
            call = calls.setdefault(event["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = call["id"] or event.get("id") or ""
            call["name"] = call["name"] or event.get("name") or ""
            call["arguments"] += event.get("arguments") or ""
    return {
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "signatures": signatures,
        "tool_calls": list(calls.values()),
    }


def first_difference(expected: Any, actual: Any, path: str) -> Difference | None:
    """Walks dicts and lists in order; the first leaf that differs."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in list(expected) + [k for k in actual if k not in expected]:
            found = first_difference(expected.get(key), actual.get(key), f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for number in range(max(len(expected), len(actual))):
            if number >= len(expected) or number >= len(actual):
                missing = "<no such item>"
                return Difference(
                    f"{path}[{number}]",
                    expected[number] if number < len(expected) else missing,
                    actual[number] if number < len(actual) else missing,
                )
            found = first_difference(expected[number], actual[number], f"{path}[{number}]")
            if found:
                return found
        return None
    return None if expected == actual else Difference(path, expected, actual)


def all_differences(expected: Any, actual: Any, path: str) -> list[Difference]:
    """Every leaf that differs, in the order ``first_difference`` walks (a list of another length
    differs at each missing item)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[Difference] = []
        for key in list(expected) + [k for k in actual if k not in expected]:
            found += all_differences(expected.get(key), actual.get(key), f"{path}.{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for number in range(max(len(expected), len(actual))):
            if number >= len(expected) or number >= len(actual):
                missing = "<no such item>"
                found.append(
                    Difference(
                        f"{path}[{number}]",
                        expected[number] if number < len(expected) else missing,
                        actual[number] if number < len(actual) else missing,
                    )
                )
                continue
            found += all_differences(expected[number], actual[number], f"{path}[{number}]")
        return found
    return [] if expected == actual else [Difference(path, expected, actual)]


def field_gaps(gaps: Any, case_id: str, check: str) -> dict[str, str]:
    """The declared gaps of single fields of ``check`` on this case: ``{field path: reason}``, from
    keys such as ``outcome.usage.cache_write_tokens`` (optionally ``:case-glob``)."""
    found = {}
    for key, reason in gaps.items():
        name, _, pattern = key.partition(":")
        if name.startswith(f"{check}.") and (not pattern or fnmatch.fnmatch(case_id, pattern)):
            found[name] = str(reason)
    return found


def _covered(path: str, gap: str) -> bool:
    return path == gap or path.startswith((f"{gap}.", f"{gap}["))


# -- running one call ------------------------------------------------------------------------------


def held_chunks(api: str, served: ServedResponse) -> list[bytes] | None:
    """The chunks of the paced run: as served, but with the tail (held back, then paced) starting at
    the stream's terminal event, the last one the format requires, so that every adapter must wait
    for it. OpenRouter ends a Responses stream with ``data: [DONE]`` after ``response.completed``;
    the Responses format ends at ``response.completed``, and a library may stop reading there
    (the openai SDK's helpers do): a held ``[DONE]`` alone would time a hold the adapter never saw.
    ``None`` (the served chunks) where the terminal event is the whole body or not found."""
    body = served.body
    ends: list[int] = []
    start = 0
    for event in at_events(body):
        start += len(event)
        ends.append(start)
    tail = None
    for number in range(len(ends) - 1, -1, -1):
        event = body[ends[number - 1] if number else 0 : ends[number]]
        data = [line[5:].strip() for line in event.splitlines() if line.startswith(b"data:")]
        if not data or (api == "responses" and data == [b"[DONE]"]):
            continue  # a comment, a blank line or OpenRouter's [DONE] after the end: not required
        tail = ends[number - 1] if number else 0
        break
    if not tail:
        return None
    offsets: list[int] = []
    cut = 0
    for chunk in served.chunks:
        cut += len(chunk.data)
        if cut >= tail:
            break
        offsets.append(cut)
    return at_offsets(body, [*offsets, tail])  # the last chunk is body[tail:], the whole tail


async def run_call(
    adapter: ConformanceAdapter,
    case: Case,
    served: ServedResponse,
    chunks: Sequence[bytes] | None = None,
    *,
    hold_last_chunk: bool = False,
    stop_after_events: int | None = None,
    deadline_s: float = RUN_DEADLINE_S,
) -> Run:
    """One call of ``adapter`` on ``served`` (chunked as given), with a deadline; never raises.
    With ``hold_last_chunk`` the last chunk waits for the first event, then comes a paced
    ``PACED_TAIL_S`` later."""
    run = Run()
    transport = CaseTransport(
        served,
        chunks,
        hold_last_chunk=hold_last_chunk,
        hold_timeout_s=HOLD_LAST_CHUNK_S,
        tail_delay_s=PACED_TAIL_S if hold_last_chunk else 0.0,
    )
    collector = TraceCollector()
    attempts = NetworkAttempts()
    request = case.interaction.request.json()
    before = asyncio.all_tasks()
    async with httpx2.AsyncClient(transport=transport, timeout=READ_TIMEOUT_S) as client:
        call = ConformanceCall(
            api=case.api,
            provider=case.provider,
            request=request,
            http_client=client,
            base_url=case.base_url,
            api_key=API_KEYS.get(case.api, API_KEYS["chat"]),
            billing=BILLING,
            traces=collector,
            timeout_s=READ_TIMEOUT_S,
        )

        async def consume() -> None:
            async with contextlib.aclosing(adapter.stream(call)) as stream:
                async for event in stream:
                    if not run.events and hold_last_chunk:
                        run.first_event_before_last_byte = not transport.last_byte_delivered
                        transport.release()
                    try:
                        run.events.append(canonical_event(event))
                    except (ValidationError, ValueError) as exc:
                        run.invalid_event = f"event {len(run.events)} is not a canonical event: {exc}"
                        return
                    if stop_after_events is not None and len(run.events) >= stop_after_events:
                        return

        started = time.perf_counter()
        with intercept_pools(transport), guard_network(attempts):
            try:
                await asyncio.wait_for(consume(), deadline_s)
            except asyncio.TimeoutError:
                run.timed_out = True
            except Exception as exc:  # what the adapter raised is the verdict's input, not ours to handle
                run.error = exc
        run.wall_ms = (time.perf_counter() - started) * 1000
        run.last_byte_read = transport.last_byte_delivered
    await asyncio.sleep(0)  # let the adapter's cleanup callbacks run
    spawned = asyncio.all_tasks() - before - {asyncio.current_task()}
    if spawned:  # finalizers may still be finishing; a task alive after the grace period is left behind
        await asyncio.wait(spawned, timeout=TASK_GRACE_S)
    run.leftover_tasks = sorted(
        f"{task.get_name()} running {task.get_coro()!r}" for task in spawned if not task.done()
    )
    run.result = call.result
    run.network = attempts.hosts
    run.traces = collector.traces
    run.requests = transport.requests
    return run


def _run_outcome(run: Run) -> dict[str, Any]:
    if run.error is not None:
        return {"error": type(run.error).__name__}
    return outcome_of_result(run.result)


def _parsed_arguments(outcome: dict[str, Any]) -> dict[str, Any]:
    """``outcome`` with each tool call's arguments parsed (no arguments at all are ``{}``), so key
    order and spacing do not count; text that is not JSON stays as it is."""
    calls = []
    for call in outcome.get("tool_calls") or []:
        arguments = call.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                pass  # compared as text: the difference shows what was sent
        calls.append({**call, "arguments": arguments})
    return {**outcome, "tool_calls": calls}


def _judge_outcome(expected: Expected, run: Run, exact_arguments: bool = False) -> Difference | None:
    """The first field where the run's result (or events) differ from the oracle's answer."""
    found = _outcome_differences(expected, run, exact_arguments)
    return found[0] if found else None


def _outcome_differences(expected: Expected, run: Run, exact_arguments: bool = False) -> list[Difference]:
    """Every field where the run's result (or events) differ from the oracle's answer; tool
    arguments compared as parsed JSON unless the adapter claims byte-exact arguments."""
    if run.timed_out:
        return [Difference("call", "an outcome before the deadline", "no outcome: the call hung")]
    if run.invalid_event:
        return [Difference("events", "canonical events", run.invalid_event)]
    if expected.error is not None:
        wanted = getattr(errors, expected.error)
        if isinstance(run.error, wanted):
            return []
        got = f"{type(run.error).__name__}: {run.error}" if run.error is not None else "no error"
        return [Difference("outcome.error", expected.error, got)]
    if run.error is not None:
        return [Difference("outcome.error", None, f"{type(run.error).__name__}: {run.error}")]
    if run.result is None:
        return [Difference("outcome", "a result set with call.set_result()", None)]
    wanted_fields = expected.as_dict()
    actual = outcome_of_result(run.result)
    if "unreadable_result" in actual:
        return [Difference("outcome.result", "an LLMResult or a result dict", actual["unreadable_result"])]
    aliases = expected.equivalent_signatures
    actual["signatures"] = [aliases.get(s, s) for s in actual["signatures"]]
    folded = outcome_of_events(with_empty_arguments(run.events))
    folded["signatures"] = [aliases.get(s, s) for s in folded["signatures"]]
    if not exact_arguments:
        wanted_fields, actual, folded = (_parsed_arguments(o) for o in (wanted_fields, actual, folded))
    return all_differences(wanted_fields, actual, "outcome") + all_differences(
        {k: wanted_fields[k] for k in folded}, folded, "events"
    )


# -- the checks ------------------------------------------------------------------------------------


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
STALL_SPEC = f"stall:seconds={READ_TIMEOUT_S * 5:g}"  # a slow first byte, well past the read timeout


@dataclass(frozen=True)
class InjectedFault:
    """A fault injected into a recorded streamed response, and the error class it must give."""

    spec: str
    expected_error: str
    served: ServedResponse

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
    after = strike_point(served.body)
    specs = [*STATUS_FAULT_SPECS, *(_with_after(spec, after) for spec in STREAM_FAULT_SPECS)]
    if case.api != "messages":  # the other shapes of a mid-stream error: Groq's, and Responses' error event
        specs.append(f"mid_stream_error:after={after},style={'groq' if case.api == 'chat' else 'error'}")
    injected = []
    for spec in specs:
        faulty = apply_fault(served, parse_fault(spec), api=case.api)
        expected = expected_for(case.api, faulty.status, faulty.body).error
        assert expected is not None, f"fault {spec} left {case.id} a successful stream"
        injected.append(InjectedFault(spec, expected, faulty))
    stalled = apply_fault(served, parse_fault(STALL_SPEC), api=case.api)
    injected.append(InjectedFault(STALL_SPEC, "LLMTimeoutError", stalled))
    return injected


class Battery:
    """Runs the checks of one adapter on one case; results are cached per case where runs are shared."""

    def __init__(self, adapter: ConformanceAdapter, case: Case, deadline_s: float = RUN_DEADLINE_S) -> None:
        self.adapter = adapter
        self.case = case
        self.deadline_s = deadline_s
        self.expected = expected_outcome(case.interaction)
        self.served = served_from_interaction(case.interaction, recorded_timing=False)
        self._plain: Run | None = None
        self._held: Run | None = None
        self.network: list[str] = []  # every host any run tried outside the cassette
        self.checks: dict[str, Callable[[], Awaitable[Verdict]]] = {
            "outcome": self.check_outcome,
            "streaming": self.check_streaming,
            "chunking": self.check_chunking,
            "faults": self.check_faults,
            "traces": self.check_traces,
            "cancellation": self.check_cancellation,
            "request": self.check_request,
            "snapshot": self.check_snapshot_run,
        }
        assert tuple(self.checks) == CHECKS

    def applicable(self, check: str) -> str | None:
        """Why ``check`` does not apply to this case and adapter, or None when it does."""
        caps = self.adapter.capabilities
        if self.case.api not in caps.apis:
            return f"the adapter does not speak {self.case.api}"
        if check in ("streaming", "chunking", "faults", "cancellation") and not self.case.streamed:
            return "the recorded response is not a successful stream"
        if check in ("streaming", "cancellation") and self.expected.error is not None:
            return "the recorded stream fails before it ends"
        if check == "traces" and not caps.traces:
            return "the adapter declares no traces"
        if check == "cancellation" and not caps.cancellation:
            return "the adapter declares no cancellation support"
        return None

    async def run(self, check: str) -> Verdict:
        reason = self.applicable(check.partition("[")[0])
        if reason is not None:
            return Verdict(check, "skip", reason)
        kind = check.partition("[")[2].rstrip("]")
        tried = len(self.network)
        verdict = await (self.check_faults(kind) if kind else self.checks[check]())
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

    async def _call(self, *args: Any, **kwargs: Any) -> Run:
        """``run_call`` with this battery's adapter; what it tried outside the cassette is kept."""
        run = await run_call(self.adapter, *args, **kwargs)
        self.network += run.network
        return run

    async def held_run(self) -> Run:
        """The run whose last chunk waits for the first event and then comes paced, later."""
        if self._held is None:
            self._held = await self._call(
                self.case,
                self.served,
                held_chunks(self.case.api, self.served),
                hold_last_chunk=True,
                deadline_s=self.deadline_s,
            )
        return self._held

    async def plain_run(self) -> Run:
        if self._plain is None:
            self._plain = await self._call(self.case, self.served, deadline_s=self.deadline_s)
        return self._plain

    @staticmethod
    def _verdict(check: str, difference: Difference | None, run: Run) -> Verdict:
        if difference is None:
            return Verdict(check, "pass", "ok", events=run.events)
        verdict = Verdict(check, "fail", str(difference), difference, events=run.events)
        if run.error is not None:  # the adapter's own exception may be the bug: show where it raised
            verdict.adapter_traceback = adapter_frames(run.error)
        return verdict

    async def check_outcome(self) -> Verdict:
        run = await self.plain_run()
        exact = self.adapter.capabilities.exact_arguments
        return self._verdicts("outcome", _outcome_differences(self.expected, run, exact), run)

    def _verdicts(self, check: str, differences: list[Difference], run: Run) -> Verdict:
        """A verdict on every difference found: those in fields the adapter declared a known gap
        are expected failures; any other one fails the check, named even when gaps are beside it."""
        gaps = field_gaps(self.adapter.known_gaps, self.case.id, check)
        unknown = [d for d in differences if not any(_covered(d.path, gap) for gap in gaps)]
        known = [d for d in differences if d not in unknown]
        if unknown:
            verdict = self._verdict(check, unknown[0], run)
            verdict.message = "; ".join(str(d) for d in unknown)
            if known:
                verdict.message += f" (and {len(known)} in declared gaps)"
            return verdict
        if known:
            reasons = sorted({gaps[g] for d in known for g in gaps if _covered(d.path, g)})
            message = f"known gap: {'; '.join(reasons)} ({'; '.join(str(d) for d in known)})"
            return Verdict(check, "xfail", message, known[0], events=run.events)
        return self._verdict(check, None, run)

    async def check_streaming(self) -> Verdict:
        if all(event["kind"] == "stop" for event in (await self.plain_run()).events):
            return Verdict(
                "streaming", "skip", "the stream carries only its stop reason, which comes with the last byte"
            )
        run = await self.held_run()
        if run.first_event_before_last_byte:
            return self._verdict("streaming", None, run)
        got = (
            "no event at all" if not run.events else "the first event only after the last byte was delivered"
        )
        difference = Difference("events[0]", "an event before the last byte is delivered", got)
        return self._verdict("streaming", difference, run)

    async def check_chunking(self) -> Verdict:
        body = self.served.body
        baseline = await self.plain_run()
        splits = {f"random(seed={seed})": at_random_offsets(body, seed) for seed in CHUNK_SEEDS}
        head = list(byte_by_byte(body[:BYTE_BY_BYTE_LIMIT]))
        splits["byte_by_byte"] = head + at_random_offsets(body[BYTE_BY_BYTE_LIMIT:], CHUNK_SEEDS[0])
        wanted = {"outcome": _run_outcome(baseline), "events": baseline.events}
        for label, chunks in splits.items():
            run = await self._call(self.case, self.served, chunks, deadline_s=self.deadline_s)
            found = first_difference(wanted, {"outcome": _run_outcome(run), "events": run.events}, label)
            if found:
                return self._verdict("chunking", found, run)
        return self._verdict("chunking", None, baseline)

    async def check_faults(self, kind: str | None = None) -> Verdict:
        """Every fault (or those of one ``kind``: the verdict of the item ``faults[kind]``)."""
        name = f"faults[{kind}]" if kind else "faults"
        baseline = await self.plain_run()
        faults = [f for f in faults_for(self.case, self.served) if kind is None or f.kind == kind]
        if not faults:
            return Verdict(name, "skip", f"no {kind} fault applies to this stream")
        for fault in faults:
            run = await self._call(self.case, fault.served, deadline_s=self.deadline_s)
            found = _judge_outcome(Expected(error=fault.expected_error), run)
            if found is None and len(run.requests) != 1:  # the protocol says no retries
                found = Difference("requests sent", 1, len(run.requests))
            if found is None and fault.kind == "rate_limit":
                waited = getattr(run.error, "retry_after", None)
                if waited != RETRY_AFTER_S:
                    found = Difference("error.retry_after", RETRY_AFTER_S, waited)
            if found is None and self.adapter.capabilities.traces:
                statuses = [trace.get("status") for trace in run.traces]
                if statuses != ["error"]:
                    found = Difference("traces", ["error"], statuses)
            if found is not None:
                return self._verdict(name, replace(found, path=f"{fault.spec}: {found.path}"), run)
        return self._verdict(name, None, baseline)

    async def check_traces(self) -> Verdict:
        run = await self.plain_run()
        if len(run.traces) != 1:
            return self._verdict(
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
            found = self._timing_problem(trace, run)
        if (
            found is None
            and self.applicable("streaming") is None
            and any(e["kind"] != "stop" for e in run.events)
        ):
            held = await self.held_run()
            # a buffering adapter: streaming says so; one that failed before the held tail came
            # never waited for it (outcome judges the failure)
            if held.first_event_before_last_byte and held.last_byte_read and len(held.traces) == 1:
                found = self._paced_timing_problem(held.traces[0], held)
                run = held if found is not None else run
        return self._verdict("traces", found, run)

    @staticmethod
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

    @staticmethod
    def _timing_problem(trace: dict[str, Any], run: Run) -> Difference | None:
        latency, ttft = trace.get("latency_ms"), trace.get("ttft_ms")
        if not isinstance(latency, (int, float)) or latency <= 0:
            return Difference("trace.latency_ms", "a positive number", latency)
        if run.events and (not isinstance(ttft, (int, float)) or not 0 < ttft <= latency):
            return Difference("trace.ttft_ms", f"a number in (0, latency_ms={latency}]", ttft)
        return None

    async def check_cancellation(self) -> Verdict:
        run = await self._call(self.case, self.served, stop_after_events=1, deadline_s=self.deadline_s)
        found: Difference | None = None
        if run.timed_out or run.error is not None:
            got = "a hang" if run.timed_out else f"{type(run.error).__name__}: {run.error}"
            found = Difference("close after the first event", "no error", got)
        elif self.adapter.capabilities.traces and len(run.traces) != 1:
            found = Difference("traces after close", "exactly 1 trace", f"{len(run.traces)} traces")
        elif run.leftover_tasks:
            found = Difference("tasks after close", [], run.leftover_tasks)
        return self._verdict("cancellation", found, run)

    async def check_request(self) -> Verdict:
        run = await self.plain_run()
        recorded = self.case.interaction.request.json()
        if not run.requests:
            return self._verdict("request", Difference("request", "one request sent", "none"), run)
        first = run.requests[0]
        sent = first.body if isinstance(first.body, dict) else {}
        api = api_for_path(urlsplit(first.url).path)
        if api != self.case.api:
            return self._verdict("request", Difference("request.api", self.case.api, api), run)
        if recorded.get("stream") is True and sent.get("stream") is not True:
            difference = Difference(
                "request.stream", True, f"{sent.get('stream')!r}: the request lacks the recorded stream flag"
            )
            return self._verdict("request", difference, run)
        comparison = compare_requests(self.case.api, recorded, sent)
        differences = [Difference(path, wanted, got) for path, wanted, got in comparison.differences]
        verdict = self._verdicts("request", differences, run)  # field gaps (request.thinking) apply
        verdict.warnings = comparison.warnings
        return verdict

    def lacks_stream_flag(self) -> bool:
        """The plain run's request did not ask for the stream the recording asked for."""
        run = self._plain
        if run is None or not run.requests:
            return False
        sent = run.requests[0].body if isinstance(run.requests[0].body, dict) else {}
        return self.case.interaction.request.json().get("stream") is True and sent.get("stream") is not True

    async def check_snapshot_run(self) -> Verdict:
        """The run whose events the snapshot compares; the comparison itself is syrupy's."""
        run = await self.plain_run()
        if run.timed_out or run.invalid_event:
            return self._verdict("snapshot", Difference("events", "a complete run", "no complete run"), run)
        aliases = self.expected.equivalent_signatures  # another copy of a signature stands for it
        events = [
            {**event, "signature": aliases[event["signature"]]}
            if event.get("signature") in aliases
            else event
            for event in run.events
        ]
        return Verdict("snapshot", "pass", "events captured", events=events)


def snapshot_data(case: Case, verdict: Verdict) -> dict[str, Any]:
    """What the snapshot stores: the case and its canonical events (no ids, no times), normalized
    by ``with_empty_arguments`` and ``blocks_in_order``."""
    events = blocks_in_order(with_empty_arguments(verdict.events))
    return {"case": case.id, "provider": case.provider, "api": case.api, "events": events}


_TOOL_KINDS = ("tool_call", "approval_request")


def blocks_in_order(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reasoning blocks numbered 0, 1, ... in order of first appearance: ``block`` says which
    pieces belong together, and a library that numbers its own parts (pydantic-ai counts a server
    tool's call and return as parts) groups them as well as one that passes the wire's index on."""
    labels: dict[Any, int] = {}
    out = []
    for event in events:
        if "block" in event and event.get("kind") in ("reasoning", "hidden_reasoning"):
            event = {**event, "block": labels.setdefault(event["block"], len(labels))}
        out.append(event)
    return out


def with_empty_arguments(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A tool call none of whose deltas carries arguments takes none: the suite adds its ``{}``
    delta right after the call's last event (where the reference sends it), so an adapter need
    not invent one."""
    last: dict[tuple[str, int], int] = {}
    with_arguments: set[tuple[str, int]] = set()
    for number, event in enumerate(events):
        if event.get("kind") in _TOOL_KINDS:
            key = (event["kind"], event["index"])
            last[key] = number
            if event.get("arguments"):
                with_arguments.add(key)
    out = list(events)
    for (kind, index), number in sorted(last.items(), key=lambda item: -item[1]):
        if (kind, index) not in with_arguments:
            empty = {"arguments": "{}", "id": None, "index": index, "kind": kind, "name": None}
            out.insert(number + 1, empty)
    return out


def coalesced(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent deltas of one kind and block (tool call) merged into one: texts and arguments
    joined, the first id and name and the last signature kept. For adapters whose library
    re-splits deltas (``Capabilities.coalesced_deltas``)."""
    out: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("kind")
        previous = out[-1] if out else None
        same = (
            previous is not None
            and previous.get("kind") == kind
            and kind in ("text", "refusal", "reasoning", *_TOOL_KINDS)
            and previous.get("block") == event.get("block")
            and previous.get("index") == event.get("index")
            and not (kind == "reasoning" and previous.get("signature"))  # a signature ends its block's piece
        )
        if not same or previous is None:
            out.append(dict(event))
            continue
        if kind in _TOOL_KINDS:
            previous["arguments"] = (previous.get("arguments") or "") + (event.get("arguments") or "")
            previous["id"] = previous.get("id") or event.get("id")
            previous["name"] = previous.get("name") or event.get("name")
        else:
            previous["text"] = (previous.get("text") or "") + (event.get("text") or "")
            if event.get("signature"):
                previous["signature"] = event["signature"]
    return out
