"""Fault injection derived from any cassette interaction.

A fault turns the response that would be served (``ServedResponse``, see ``served.py``) into a
faulty one, keeping the recorded chunking and timing of whatever part of the stream it keeps:

===================  ======================================================================
kind                 what the client gets
===================  ======================================================================
rate_limit           HTTP 429 with ``retry-after`` and the provider's rate-limit body
quota                out of credits: OpenAI's HTTP 429 ``insufficient_quota`` (not a rate limit:
                     retrying does not help), Anthropic's HTTP 402 ``billing_error``
server_error         HTTP 500 with the provider's body
unavailable          HTTP 503 with the provider's body
overloaded           Anthropic: HTTP 529 ``overloaded_error``; OpenAI (no 529): 503 "overloaded"
mid_stream_error     the first ``after`` events, then the provider's own error event, then the end
                     (Anthropic ``event: error`` overloaded_error; Chat an ``error`` chunk or, with
                     ``style=groq``, ``event: error``; Responses ``response.failed`` or, with
                     ``style=error``, an ``error`` event)
cut_events           the first ``after`` events, then the connection drops (``abort=false``: the
                     body just ends, before the stream's terminator)
cut_bytes            the first ``after`` bytes, then the connection drops (or ends: ``abort=false``)
malformed_chunk      event ``after + 1`` arrives with its JSON cut in half; the rest follows
stall                nothing for ``seconds`` before the status line (slow first byte), or, with
                     ``after``, a pause of ``seconds`` after that many events
===================  ======================================================================

Where it applies: the emulator serves it over a socket (``Emulator(fault=...)``, ``--fault``, or a
per-request ``x-streamproof-fault`` header); a replay serves it through the replay transports
(``use_cassette(path, shape=fault_shape(fault))``); ``faulted_interaction`` gives the faulty
response as an ``Interaction`` for offline replay (``streamproof replay --fault``), where a stall
changes only the recorded times.

A spec reads ``KIND`` or ``KIND:key=value,...`` (``cut_events:after=3``, ``rate_limit:retry_after=7``,
``stall:seconds=30``); a bare number sets ``after`` (``cut_bytes:120``). Every faulty response is
labelled synthetic: ``ServedResponse.synthetic`` and an ``x-streamproof-synthetic`` header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson

from ..adapters.errors import StreamproofError
from .cassette import Headers, Interaction, RecordedResponse
from .formats import FORMATS, HarnessFormat, all_styles, format_for, format_named
from .rechunk import at_frames, frame_ends
from .served import ServedChunk, ServedResponse, served_from_interaction

SYNTHETIC_HEADER = "x-streamproof-synthetic"

STATUS_FAULTS = ("rate_limit", "quota", "server_error", "unavailable", "overloaded")  # also error kinds
STREAM_FAULTS = ("mid_stream_error", "cut_events", "cut_bytes", "malformed_chunk", "stall")
FAULT_KINDS = (*STATUS_FAULTS, *STREAM_FAULTS)
_DEFAULT_AFTER = {"mid_stream_error": 3, "cut_events": 3, "cut_bytes": 100, "malformed_chunk": 3}
MAX_FAULT_SECONDS = 86_400.0  # a day: longer waits (inf, 1e300) overflow the clock a server waits on


# mypy checks harness/ apart from adapters/, so the base class can read as Any there
class FaultError(StreamproofError):  # type: ignore[misc,unused-ignore]
    """A fault spec that cannot be parsed, or a fault that cannot apply to this response."""


@dataclass(frozen=True)
class Fault:
    kind: str
    after: int | None = None  # events (bytes for cut_bytes) served before the fault strikes
    retry_after: float = 2.0  # rate_limit's retry-after, in seconds
    seconds: float = 30.0  # stall length
    style: str | None = None  # mid_stream_error variant: groq (Chat) or error (Responses)
    abort: bool = True  # cuts: drop the connection (True) or end the body early (False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        styles = all_styles()
        if self.style is not None and self.style not in styles:
            known = ", ".join(f"{style} ({format_named(name).api})" for style, name in styles.items())
            raise FaultError(f"unknown mid_stream_error style {self.style!r}; known: {known}")

    @property
    def spec(self) -> str:
        params = []
        if self.after is not None:
            params.append(f"after={self.after}")
        if self.kind == "rate_limit":
            params.append(f"retry_after={self.retry_after:g}")
        if self.kind == "stall":
            params.append(f"seconds={self.seconds:g}")
        if self.style:
            params.append(f"style={self.style}")
        if self.kind.startswith("cut_") and not self.abort:
            params.append("abort=false")
        return self.kind + (":" + ",".join(params) if params else "")

    @property
    def events_kept(self) -> int:
        return self.after if self.after is not None else _DEFAULT_AFTER.get(self.kind, 0)


def parse_fault(spec: str) -> Fault:
    kind, _, rest = spec.strip().partition(":")
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            key, value = "after", item
        values[key.strip()] = value.strip()
    unknown = set(values) - {"after", "retry_after", "seconds", "style", "abort"}
    if unknown:
        raise FaultError(f"fault {spec!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    try:
        after = int(values["after"]) if "after" in values else None
        fault = Fault(
            kind,
            after=after,
            retry_after=float(values.get("retry_after", 2.0)),
            seconds=float(values.get("seconds", 30.0)),
            style=values.get("style"),
            abort=values.get("abort", "true").lower() not in ("false", "0", "no"),
        )
    except ValueError as exc:
        raise FaultError(f"fault {spec!r}: {exc}") from None
    except FaultError as exc:
        raise FaultError(f"fault {spec!r}: {exc}") from None
    if (after is not None and after < 0) or fault.seconds < 0 or fault.retry_after < 0:
        raise FaultError(f"fault {spec!r}: numbers must not be negative")
    if not (fault.seconds <= MAX_FAULT_SECONDS and fault.retry_after <= MAX_FAULT_SECONDS):  # nan too
        raise FaultError(f"fault {spec!r}: seconds and retry_after must be at most {MAX_FAULT_SECONDS:g}")
    return fault


def fault_interaction(
    interaction: Interaction, fault: Fault, *, recorded_timing: bool = True
) -> ServedResponse:
    """The recorded response of ``interaction`` with ``fault`` applied."""
    served = served_from_interaction(interaction, recorded_timing=recorded_timing)
    return apply_fault(served, fault, api=interaction.api, wire_format=interaction.wire_format)


def fault_shape(fault: Fault) -> Callable[[Interaction], ServedResponse]:
    """The ``shape`` hook for the replay transports: every replayed interaction gets ``fault``."""

    def shape(interaction: Interaction) -> ServedResponse:
        return fault_interaction(interaction, fault)

    return shape


def faulted_interaction(interaction: Interaction, fault: Fault) -> Interaction:
    """``interaction`` with its response replaced by the faulty one (chunks and times kept)."""
    served = fault_interaction(interaction, fault)
    ends, total = [], 0
    for chunk in served.chunks:
        total += len(chunk.data)
        ends.append((total, chunk.at + served.stall_before_headers))
    headers: dict[str, list[str]] = {}
    for name, value in served.headers:
        headers.setdefault(name, []).append(value)
    response = RecordedResponse(served.status, served.reason, Headers(headers), served.body, ends or None)
    return replace(interaction, response=response)


def apply_fault(
    served: ServedResponse, fault: Fault, *, api: str | None = None, wire_format: str | None = None
) -> ServedResponse:
    """``served`` with ``fault`` applied, in the shapes of ``wire_format`` (a format name), else of
    the format of ``api``."""
    fmt = _format(api, wire_format, served)
    if fault.kind in STATUS_FAULTS:
        result = _status_fault(served, fault, fmt)
    elif fault.kind == "stall":
        result = _stall(served, fault)
    elif fault.kind == "cut_bytes":
        result = _cut_at(served, min(fault.events_kept, len(served.body)), fault.abort)
    else:
        result = _event_fault(served, fault, fmt)
    return replace(result, synthetic=fault.spec).with_headers(**{SYNTHETIC_HEADER: f"fault={fault.spec}"})


def _format(api: str | None, wire_format: str | None, served: ServedResponse) -> HarnessFormat:
    """The format named, else the format of ``api`` whose stream is of ``served``'s content type
    (Anthropic's SSE or Bedrock's event stream, both api ``messages``), else the api's first."""
    try:
        if wire_format is not None:
            return format_named(wire_format)
        if api is not None:
            same_api = [fmt for fmt in FORMATS.values() if fmt.api == api]
            streamed_as = served.content_type
            return next((f for f in same_api if f.content_type.split(";")[0] == streamed_as), format_for(api))
    except ValueError as exc:
        raise FaultError(str(exc)) from None
    raise FaultError("a fault needs the response's api or wire format")


def _status_fault(served: ServedResponse, fault: Fault, fmt: HarnessFormat) -> ServedResponse:
    request_id = fmt.new_request_id()
    model = _model_of(served.body)
    retry_after = fault.retry_after if fault.kind == "rate_limit" else None
    reply = fmt.error_reply(fault.kind, model=model, request_id=request_id, retry_after=retry_after)
    headers = (("content-type", "application/json"), *fmt.error_headers(reply, request_id))
    first_at = served.chunks[0].at if served.chunks else 0.0
    return ServedResponse(
        status=reply.status,
        headers=headers,
        chunks=(ServedChunk(orjson.dumps(reply.body), first_at),),
        stall_before_headers=served.stall_before_headers,
    )


def _model_of(body: bytes) -> str:
    match = re.search(rb'"model":\s*"([^"]+)"', body[:4096])
    return match.group(1).decode() if match else ""


def _event_ends(served: ServedResponse, fault: Fault) -> list[int]:
    ends = frame_ends(served.body, served.content_type)
    if ends is None:
        raise FaultError(
            f"fault {fault.kind} needs a streamed (SSE) response; this one is {served.content_type!r}"
        )
    needed = fault.events_kept + (1 if fault.kind != "stall" else 0)
    if len(ends) < needed:
        raise FaultError(
            f"fault {fault.spec} needs more than {fault.events_kept} events; the stream has only {len(ends)}"
        )
    return ends


def _splice(served: ServedResponse, start: int, end: int, insert: bytes) -> tuple[ServedChunk, ...]:
    """Replaces body bytes ``start:end`` with ``insert``; every kept byte keeps its chunk and time."""
    out: list[ServedChunk] = []
    pos = 0
    insert_at = served.chunks[0].at if served.chunks else 0.0
    for chunk in served.chunks:
        lo, hi = pos, pos + len(chunk.data)
        pos = hi
        if lo < start:
            out.append(ServedChunk(chunk.data[: min(hi, start) - lo], chunk.at))
            insert_at = chunk.at
        if hi > end:
            if insert:
                out.append(ServedChunk(insert, insert_at))
                insert = b""
            out.append(ServedChunk(chunk.data[max(lo, end) - lo :], chunk.at))
    if insert:
        out.append(ServedChunk(insert, insert_at))
    return tuple(chunk for chunk in out if chunk.data)


def _cut_at(served: ServedResponse, offset: int, abort: bool) -> ServedResponse:
    return replace(served, chunks=_splice(served, offset, len(served.body), b""), abort=abort)


def _event_fault(served: ServedResponse, fault: Fault, fmt: HarnessFormat) -> ServedResponse:
    ends = _event_ends(served, fault)
    kept = fault.events_kept
    offset = ends[kept - 1] if kept else 0
    body = served.body
    if fault.kind == "cut_events":
        return _cut_at(served, offset, fault.abort)
    if fault.kind == "mid_stream_error":
        owner = all_styles().get(fault.style) if fault.style is not None else fmt.name
        if owner != fmt.name:
            other = format_named(str(owner))
            mine, theirs = (fmt.api, other.api) if fmt.api != other.api else (fmt.name, other.name)
            raise FaultError(f"fault {fault.spec}: style {fault.style} is for {theirs}, not {mine}")
        error = fmt.midstream_error(body, offset, kept, fault.style)
        return replace(served, chunks=_splice(served, offset, len(body), error), abort=False)
    # malformed_chunk: the next event with its JSON cut in half
    broken = fmt.broken(body[offset : ends[kept]])
    if broken is None:
        raise FaultError(f"fault {fault.spec}: event {kept + 1} has no data line to break")
    return replace(served, chunks=_splice(served, offset, ends[kept], broken))


_SSE_EVENTS = HarnessFormat()  # the base class's event rules (SSE's), for a body of no named format


def carries_data(event: bytes) -> bool:
    """Whether an SSE event has a data line (comments and blank keep-alives do not)."""
    return _SSE_EVENTS.carries_data(event)


def strike_point(body: bytes, wanted: int = 3, *, wire_format: str | None = None) -> int:
    """How many events a stream fault keeps: about ``wanted``, at least up to the first data event
    (a cut before any data cannot be told from a failed connection), and the next event must carry
    data a parser has to read (not a comment, not a ping), so that breaking it must be noticed.
    The events are those of ``wire_format``'s framing (default: SSE)."""
    fmt = format_named(wire_format) if wire_format is not None else _SSE_EVENTS
    events = at_frames(body, fmt.content_type)
    first_data = next((n for n, event in enumerate(events) if fmt.carries_data(event)), 0)
    start = max(min(wanted, max(len(events) - 2, 0)), first_data + 1)
    for index in range(start, len(events) - 1):
        if fmt.carries_data(events[index]) and not fmt.is_keepalive(events[index]):
            return index
    return 0


def _stall(served: ServedResponse, fault: Fault) -> ServedResponse:
    if fault.after is None:
        return replace(served, stall_before_headers=served.stall_before_headers + fault.seconds)
    offset = _event_ends(served, fault)[fault.after - 1] if fault.after else 0
    chunks, pos = [], 0
    for chunk in _splice(served, offset, offset, b""):
        chunks.append(replace(chunk, at=chunk.at + fault.seconds) if pos >= offset else chunk)
        pos += len(chunk.data)
    return replace(served, chunks=tuple(chunks))
