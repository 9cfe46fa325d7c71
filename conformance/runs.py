"""What the checks of the battery share: the cases, the verdicts, one call through the adapter.

``discover_cases`` finds the cases of a cassettes folder, each a recorded interaction of one wire
format (``formats.SUITE_FORMATS``); ``run_call`` makes one call of the adapter on a served response
(chunked as given), never raising; ``CaseRuns`` holds what the checks of one case share: the
oracle's answer, the served response and the runs made once (plain and paced). The checks
themselves are in ``checks/``, the battery that runs them in ``battery.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx2
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..adapters import errors
from ..adapters.billing import BillingContext
from ..adapters.events import LLMResult, StreamEvent, Usage
from ..harness.cassette import Interaction, load_cassette
from ..harness.foreign_shapes import cassette_files, cassette_stem
from ..harness.formats import FORMATS as HARNESS_FORMATS
from ..harness.rechunk import at_frames, at_offsets
from ..harness.served import ServedResponse, served_from_interaction
from .formats import SuiteFormat, find_format, suite_format
from .oracle import Expected, expected_outcome
from .protocol import ConformanceAdapter, ConformanceCall, TraceCollector
from .transport import CaseTransport, NetworkAttempts, SentRequest, guard_network, intercept_pools

T = TypeVar("T")
Status = Literal["pass", "fail", "xfail", "skip"]

RUN_DEADLINE_S = 10.0  # no single call may take longer: a hang is a failure, not a stuck suite
READ_TIMEOUT_S = 0.05  # the read timeout the suite asks for; the transport enforces it when a response stalls
TASK_GRACE_S = 0.2  # how long tasks the call spawned may take to finish after it ended
HOLD_LAST_CHUNK_S = 0.5  # how long the streaming check waits for a first event before the last byte
PACED_TAIL_S = 0.02  # then the tail comes this much later: latency and ttft must show the hold
BYTE_BY_BYTE_LIMIT = 4_096  # longer bodies are fed byte by byte up to here, then in random chunks
CHUNK_SEEDS = (7, 1337)
BILLING = BillingContext(plan_type="pro", cost_source="credits", customer_id="cust-conformance-1")
_EVENT = TypeAdapter(StreamEvent)


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
    def format(self) -> SuiteFormat:
        """The wire format of the case, by its api and provider."""
        return suite_format(self.api, self.provider)

    @property
    def scenario(self) -> str:
        """The cassette's path under the cassettes folder, without ``.yaml``."""
        return cassette_stem(self.cassette.relative_to(self.root)).as_posix()

    @property
    def id(self) -> str:
        return f"{self.scenario}#{self.interaction.index}"

    @property
    def streamed(self) -> bool:
        response = self.interaction.response
        return self.format.is_stream(response.content_type) and response.status < 400

    @property
    def base_url(self) -> str:
        return self.format.base_url(str(self.interaction.request.uri))

    @property
    def asks_stream(self) -> bool:
        """The recorded request asked for a stream (as its format says so)."""
        request = self.interaction.request
        return self.format.asks_stream(request.json(), str(request.uri))


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
    """Every streamed POST of a known wire format in the cassettes under ``root`` (or one file).

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
            if (
                find_format(interaction.api, interaction.provider) is None
                or interaction.request.method != "POST"
                or not isinstance(request, dict)
            ):
                continue
            case = Case(path, base, interaction)
            response = interaction.response
            if case.format.is_stream(response.content_type) or (response.status >= 400 and case.asks_stream):
                cases.append(case)
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


def held_chunks(case_format: SuiteFormat, served: ServedResponse) -> list[bytes] | None:
    """The chunks of the paced run: as served, but with the tail (held back, then paced) starting at
    the stream's terminal event, the last one the format requires, so that every adapter must wait
    for it. OpenRouter ends a Responses stream with ``data: [DONE]`` after ``response.completed``;
    the Responses format ends at ``response.completed``, and a library may stop reading there
    (the openai SDK's helpers do): a held ``[DONE]`` alone would time a hold the adapter never saw.
    ``None`` (the served chunks) where the terminal event is the whole body or not found."""
    body = served.body
    wire = HARNESS_FORMATS[case_format.name]
    ends: list[int] = []
    start = 0
    for event in at_frames(body, served.content_type):  # as the format's framing cuts them
        start += len(event)
        ends.append(start)
    tail = None
    for number in range(len(ends) - 1, -1, -1):
        event = body[ends[number - 1] if number else 0 : ends[number]]
        data = [line[5:].strip() for line in event.splitlines() if line.startswith(b"data:")]
        done = case_format.done_after_end and data == [b"[DONE]"]
        if not wire.carries_data(event) or done:
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
    timeout_s: float = READ_TIMEOUT_S,
) -> Run:
    """One call of ``adapter`` on ``served`` (chunked as given), with a deadline and ``timeout_s``
    the read timeout the call asks for; never raises.
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
    async with httpx2.AsyncClient(transport=transport, timeout=timeout_s) as client:
        call = ConformanceCall(
            api=case.api,
            provider=case.provider,
            request=request,
            http_client=client,
            base_url=case.base_url,
            api_key=case.format.api_key,
            billing=BILLING,
            traces=collector,
            timeout_s=timeout_s,
            model=case.format.model(request, str(case.interaction.request.uri)),
            credentials=dict(case.format.credentials),
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


def run_outcome(run: Run) -> dict[str, Any]:
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


def judge_outcome(expected: Expected, run: Run, exact_arguments: bool = False) -> Difference | None:
    """The first field where the run's result (or events) differ from the oracle's answer."""
    found = outcome_differences(expected, run, exact_arguments)
    return found[0] if found else None


def outcome_differences(expected: Expected, run: Run, exact_arguments: bool = False) -> list[Difference]:
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


_TOOL_KINDS = ("tool_call", "approval_request")


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


class CaseRuns:
    """One adapter on one case: the oracle's answer, the served response, and the runs the checks
    share (the plain run and the paced one, each made once); every host any run tried outside
    the cassette is kept in ``network``."""

    def __init__(self, adapter: ConformanceAdapter, case: Case, deadline_s: float = RUN_DEADLINE_S) -> None:
        self.adapter = adapter
        self.case = case
        self.deadline_s = deadline_s
        self.expected = expected_outcome(case.interaction)
        self.served = served_from_interaction(case.interaction, recorded_timing=False)
        self._plain: Run | None = None
        self._held: Run | None = None
        self._shared: dict[Callable[[Case, ServedResponse], Any], Any] = {}
        self.network: list[str] = []  # every host any run tried outside the cassette

    async def call(self, *args: Any, **kwargs: Any) -> Run:
        """``run_call`` with this case's adapter; what it tried outside the cassette is kept."""
        run = await run_call(self.adapter, *args, **kwargs)
        self.network += run.network
        return run

    def shared(self, make: Callable[[Case, ServedResponse], T]) -> T:
        """``make(case, served)``, made once per case for the items that share it (a check's
        items each judge one kind of what it makes, e.g. the faults)."""
        if make not in self._shared:
            self._shared[make] = make(self.case, self.served)
        result: T = self._shared[make]
        return result

    async def held_run(self) -> Run:
        """The run whose last chunk waits for the first event and then comes paced, later."""
        if self._held is None:
            self._held = await self.call(
                self.case,
                self.served,
                held_chunks(self.case.format, self.served),
                hold_last_chunk=True,
                deadline_s=self.deadline_s,
            )
        return self._held

    async def plain_run(self) -> Run:
        if self._plain is None:
            self._plain = await self.call(self.case, self.served, deadline_s=self.deadline_s)
        return self._plain

    @staticmethod
    def verdict(check: str, difference: Difference | None, run: Run) -> Verdict:
        if difference is None:
            return Verdict(check, "pass", "ok", events=run.events)
        verdict = Verdict(check, "fail", str(difference), difference, events=run.events)
        if run.error is not None:  # the adapter's own exception may be the bug: show where it raised
            verdict.adapter_traceback = adapter_frames(run.error)
        return verdict

    def verdicts(self, check: str, differences: list[Difference], run: Run) -> Verdict:
        """A verdict on every difference found: those in fields the adapter declared a known gap
        are expected failures; any other one fails the check, named even when gaps are beside it."""
        gaps = field_gaps(self.adapter.known_gaps, self.case.id, check)
        unknown = [d for d in differences if not any(_covered(d.path, gap) for gap in gaps)]
        known = [d for d in differences if d not in unknown]
        if unknown:
            verdict = self.verdict(check, unknown[0], run)
            verdict.message = "; ".join(str(d) for d in unknown)
            if known:
                verdict.message += f" (and {len(known)} in declared gaps)"
            return verdict
        if known:
            reasons = sorted({gaps[g] for d in known for g in gaps if _covered(d.path, g)})
            message = f"known gap: {'; '.join(reasons)} ({'; '.join(str(d) for d in known)})"
            return Verdict(check, "xfail", message, known[0], events=run.events)
        return self.verdict(check, None, run)

    def sends_stream(self, run: Run) -> bool | None:
        """Whether the run's request asked for a stream as the format says (None: none was sent)."""
        if not run.requests:
            return None
        sent = run.requests[0]
        return self.case.format.asks_stream(sent.body if isinstance(sent.body, dict) else {}, sent.url)

    def lacks_stream_flag(self) -> bool:
        """The plain run's request did not ask for the stream the recording asked for."""
        run = self._plain
        if run is None or not run.requests:
            return False
        return self.case.asks_stream and not self.sends_stream(run)
