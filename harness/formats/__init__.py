"""The harness's registry of wire formats: one ``HarnessFormat`` per format, found by name.

Everything the harness must know about one format lives in ``harness/formats/<name>.py``: how the
emulator renders a scenario's reply (events already framed as bytes, or a JSON body), its error
bodies by error kind, its fault shapes (the mid-stream error event, a broken event, which events
a fault may strike), the request a scenario sends, the request-id header, the emulator's paths and
how ``streamproof record`` builds the official SDK's client. The rest of the harness looks a
format up here (``FORMATS["anthropic_messages"]``, ``format_for("messages")``) instead of
branching on an api name. The names are the registry keys of every layer (adapters, harness,
conformance).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...adapters.formats import format_for_url
from ..replies import FailureKind, Reply, RequestShape
from ..wire import ErrorReply, WireContext

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
ERROR_KINDS = (
    "bad_key",
    "unknown_model",
    "context_overflow",
    "rate_limit",
    "quota",
    "server_error",
    "unavailable",
    "overloaded",
)


class HarnessFormat:
    """One wire format as the harness speaks it. A format module subclasses this and registers one
    instance; the defaults here are the SSE formats' (one event per blank-line-ended block)."""

    name: str
    api: str  # the replay JSON contract's word
    provider: str  # the provider whose service speaks it (folders, metadata)
    framing: str = "sse"  # adapters.framing's name for how the body is cut into events
    content_type: str = SSE_CONTENT_TYPE  # what the emulator streams with
    request_id_header: str = "x-request-id"
    default_model: str
    unknown_model: str  # the model the unknown_model scenario asks for
    canonical_host: str  # the provider's own host, put in an emulator recording's URL
    key_env: str  # the environment variable ``streamproof record`` reads the key from
    routes: str  # the emulator's paths for this format, for messages that list them
    styles: tuple[str, ...] = ()  # the mid_stream_error variants this format has

    # --- rendering -------------------------------------------------------------------------------

    def render_events(self, reply: Reply, ctx: WireContext) -> list[bytes]:
        """The stream of ``reply``: one framed event per item."""
        raise NotImplementedError

    def render_json(self, reply: Reply, ctx: WireContext) -> dict[str, Any]:
        """The non-streamed JSON body of ``reply``."""
        raise NotImplementedError

    def new_request_id(self) -> str:
        raise NotImplementedError

    # --- errors ----------------------------------------------------------------------------------

    def error_reply(
        self, kind: str, *, model: str = "", request_id: str = "", retry_after: float | None = None
    ) -> ErrorReply:
        """The provider's real status and body for one error kind (``ERROR_KINDS``); a
        ``retry_after`` adds the header."""
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        reply = self._error(kind, model, request_id)
        if retry_after is not None:
            reply = ErrorReply(reply.status, reply.body, (*reply.headers, ("retry-after", f"{retry_after:g}")))
        return reply

    def _error(self, kind: str, model: str, request_id: str) -> ErrorReply:
        raise NotImplementedError

    def invalid_request(self, message: str, request_id: str = "", param: str | None = None) -> ErrorReply:
        """A 400 with a message of one's own (the emulator's complaints)."""
        raise NotImplementedError

    def error_headers(self, reply: ErrorReply, request_id: str) -> tuple[tuple[str, str], ...]:
        """The headers an error response carries besides its content type."""
        return ((self.request_id_header, request_id), *reply.headers)

    # --- faults ----------------------------------------------------------------------------------

    def midstream_error(self, body: bytes, offset: int, kept: int, style: str | None) -> bytes:
        """The provider's own error event inside a 200 stream, served after ``body[:offset]`` (the
        ``kept`` events served so far; the rest of ``body`` is dropped)."""
        raise NotImplementedError

    def carries_data(self, event: bytes) -> bool:
        """Whether an event is one a parser has to read (an SSE comment or blank keep-alive is not)."""
        return event.startswith(b"data:") or b"\ndata:" in event

    def is_keepalive(self, event: bytes) -> bool:
        """An event that carries data but no content (Anthropic's ping): no fault strikes at it."""
        return b'"ping"' in event

    def broken(self, event: bytes) -> bytes | None:
        """``event`` with its JSON cut in half (``malformed_chunk``); None when it has none."""
        data_at = event.find(b"data:")
        if data_at < 0:
            return None
        payload = event[data_at:].rstrip(b"\r\n")
        return event[:data_at] + payload[: max(len(b"data: {"), len(payload) // 2)] + b"\n\n"

    # --- binary framings: what the scrubber and scan must look inside ---------------------------------

    def inner_documents(self, body: bytes) -> list[bytes] | None:
        """What each frame of ``body`` carries, decoded (a base64 payload's bytes), when ``body`` is
        this format's binary framing; None otherwise (text framings: the body is what it carries)."""
        return None

    def rewrapped(self, body: bytes, documents: list[bytes]) -> tuple[bytes, list[tuple[int, int, int]]]:
        """``body`` with its frames carrying ``documents`` instead, and ``(start, end, new_length)``
        of each frame that changed."""
        raise NotImplementedError(f"{self.name} has no binary framing")

    # --- the request a scenario sends --------------------------------------------------------------

    def request_kwargs(self, shape: RequestShape, model: str) -> dict[str, Any]:
        """The SDK call's keyword arguments (always streamed)."""
        raise NotImplementedError

    def failure_applies(self, kind: FailureKind) -> bool:
        return True

    # --- the emulator's side of a request ----------------------------------------------------------

    def model_of(self, payload: Mapping[str, Any], path: str) -> Any:
        return payload.get("model")

    def is_streamed(self, payload: Mapping[str, Any], path: str) -> bool:
        return bool(payload.get("stream"))

    def request_problem(self, payload: Mapping[str, Any]) -> str | None:
        """What a real server would refuse in this request body (None: nothing)."""
        return None

    def canonical_path(self, path: str) -> str:
        """An emulator recording's path as the provider's own URL has it."""
        return path[path.index("/v1/") :] if "/v1/" in path else path

    # --- recording through the official SDK ----------------------------------------------------------

    def client(self, *, key: str, base_url: str | None, source: str, http_client: Any) -> Any:
        raise NotImplementedError

    def open_stream(self, client: Any, request: dict[str, Any], headers: dict[str, str]) -> Any:
        """The SDK's stream for ``request`` (a context manager that iterates events)."""
        raise NotImplementedError


def _registered() -> dict[str, HarnessFormat]:
    from .anthropic_messages import FORMAT as ANTHROPIC_MESSAGES
    from .bedrock_messages import FORMAT as BEDROCK_MESSAGES
    from .openai_chat import FORMAT as OPENAI_CHAT
    from .openai_responses import FORMAT as OPENAI_RESPONSES

    formats = (OPENAI_CHAT, OPENAI_RESPONSES, ANTHROPIC_MESSAGES, BEDROCK_MESSAGES)
    return {fmt.name: fmt for fmt in formats}


FORMATS: dict[str, HarnessFormat] = _registered()
APIS: tuple[str, ...] = tuple(dict.fromkeys(fmt.api for fmt in FORMATS.values()))


def format_named(name: str) -> HarnessFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown wire format {name!r}; known: {', '.join(FORMATS)}") from None


def format_for(api: str, provider: str | None = None) -> HarnessFormat:
    """The format of ``api`` that ``provider`` speaks; for a provider no format names (an
    OpenAI-compatible server), the api's first format."""
    candidates = [fmt for fmt in FORMATS.values() if fmt.api == api]
    if not candidates:
        raise ValueError(f"unknown api {api!r}; known: {', '.join(APIS)}")
    return next((fmt for fmt in candidates if fmt.provider == provider), candidates[0])


def format_for_path(path: str) -> HarnessFormat | None:
    """The format the emulator answers ``path`` with, by the adapters' URL rules; None when no
    format serves it."""
    wire = format_for_url("", path)
    return FORMATS.get(wire.name) if wire is not None else None


def all_styles() -> dict[str, str]:
    """Every mid_stream_error style -> the format it belongs to."""
    return {style: fmt.name for fmt in FORMATS.values() for style in fmt.styles}
