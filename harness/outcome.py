"""Replaying one recorded interaction through the reference stack, to one ``Outcome``.

The response is classified *before* any SSE parsing (REAL-STREAMS.md §3.17: a request that asked
for ``stream: true`` can still get a plain JSON error body):

1. status >= 400: the provider's error table maps the recorded body and headers to an ``LLMError``;
2. api ``other`` (not Chat, Responses or Messages): no result;
3. a stream (a content type of a framing: ``text/event-stream``, ...): the body is fed, chunk by
   chunk, to the format's streaming interface;
4. anything else: the body is read as one non-streamed JSON response.

Only the project's ``LLMError``s are caught and reported as the outcome's error: any other exception
escaping here is a bug in the stack and propagates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..adapters.errors import LLMError
from ..adapters.events import LLMResult, StreamEvent
from ..adapters.formats import WireFormat, format_for, format_named
from .cassette import Interaction, RecordedResponse
from .rechunk import at_offsets

REQUEST_ID_HEADERS = ("x-request-id", "request-id")


@dataclass
class Outcome:
    streamed: bool
    status: int
    result: LLMResult | None = None
    error: LLMError | None = None
    events: list[StreamEvent] = field(default_factory=list)

    def contract_dict(self, cassette_path: str, index: int, provider: str, api: str) -> dict[str, Any]:
        """One line of ``streamproof replay --format json`` (DESIGN.md, "CLI contracts")."""
        return {
            "cassette": cassette_path,
            "index": index,
            "provider": provider,
            "api": api,
            "streamed": self.streamed,
            "status": self.status,
            "result": self.result.contract_dict() if self.result is not None else None,
            "error": {"type": type(self.error).__name__, "message": str(self.error)}
            if self.error is not None
            else None,
        }


def recorded_chunks(response: RecordedResponse) -> list[bytes]:
    """The body as the network delivered it when the cassette kept chunk offsets, else whole."""
    if response.chunks:
        return at_offsets(response.body, [end for end, _ in response.chunks])
    return [response.body]


def http_error(interaction: Interaction) -> LLMError:
    response = interaction.response
    try:
        body: Any = orjson.loads(response.body) if response.body else None
    except orjson.JSONDecodeError:
        body = response.body.decode("utf-8", "replace")
    request_id = next(
        (response.headers[name] for name in REQUEST_ID_HEADERS if name in response.headers), None
    )
    return _format_of(interaction).map_error()(
        response.status, body, headers=response.headers, request_id=request_id, provider=interaction.provider
    )


def _format_of(interaction: Interaction) -> WireFormat:
    """The interaction's format; for api ``other`` (an error from an unknown path), the format of
    its provider, else OpenAI's (the most common error shape)."""
    if interaction.wire_format is not None:
        return format_named(interaction.wire_format)
    return format_for("messages") if interaction.provider == "anthropic" else format_for("chat")


def replay_interaction(
    interaction: Interaction,
    chunks: Iterable[bytes] | None = None,
    *,
    keep_events: bool = True,
    **switches: Any,
) -> Outcome:
    """Replay one interaction; ``chunks`` overrides how the body is cut (default: as recorded).

    ``keep_events=False`` leaves ``outcome.events`` empty, for a caller that reads only the result
    or the error: a long stream's events (one object each) then do not all stay alive until the
    end, which on a 40,000-event replay was a quarter of its time, most of it in the garbage
    collector walking them (``streamproof bench --only replay_process``)."""
    response = interaction.response
    outcome = Outcome(streamed=response.streamed, status=response.status)
    if response.status >= 400:
        outcome.error = http_error(interaction)
        return outcome
    if interaction.api == "other":
        return outcome
    interface_class = _format_of(interaction).interface()
    try:
        if outcome.streamed:
            interface = interface_class(provider=interaction.provider, **switches)
            for chunk in recorded_chunks(response) if chunks is None else chunks:
                events = interface.feed(chunk)
                if keep_events:
                    outcome.events += events
            events = interface.finish()
            if keep_events:
                outcome.events += events
            outcome.result = interface.result()
        else:
            outcome.result = interface_class.parse_response(
                response.body, provider=interaction.provider, **switches
            )
    except LLMError as exc:
        outcome.error = exc
    return outcome
