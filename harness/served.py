"""What a server (the emulator) or a replay transport sends back for one request: a ``ServedResponse``.

It is the common currency between cassettes, fault injection and whatever serves them:

- ``served_from_interaction`` turns a recorded ``Interaction`` into one, keeping the recorded chunk
  boundaries and their arrival times (``streamproof_chunks``) or, for cassettes without them,
  cutting a streamed body at its framing's events;
- ``harness.faults`` rewrites one into a faulty response (status errors, mid-stream error events,
  cuts, malformed chunks, stalls);
- the emulator writes it to a real socket, and a replay transport can hand it to an httpx/httpx2
  client.

How to serve one: wait ``stall_before_headers`` seconds, send ``status`` and ``headers`` (they
carry no framing header: the server chooses chunked encoding or a content-length), then send
each chunk when ``at`` seconds have passed since the request arrived. If ``abort`` is set, drop
the connection after the last chunk without ending the body (a client sees an incomplete read);
otherwise end the body normally.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .cassette import Interaction, RecordedResponse
from .rechunk import at_frames, is_stream

# Framing and encoding headers describe the recorded wire, not the bytes we serve (decoded body).
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


@dataclass(frozen=True)
class ServedChunk:
    data: bytes
    at: float = 0.0  # seconds since the request arrived when this chunk is due


@dataclass(frozen=True)
class ServedResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    chunks: tuple[ServedChunk, ...]
    reason: str = ""
    stall_before_headers: float = 0.0  # slow first byte: seconds before the status line
    abort: bool = False  # drop the connection after the last chunk instead of ending the body
    synthetic: str | None = None  # the fault that produced this response; None when served as recorded

    @property
    def body(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)

    @property
    def content_type(self) -> str:
        for name, value in self.headers:
            if name.lower() == "content-type":
                return value.split(";")[0].strip().lower()
        return ""

    @property
    def is_sse(self) -> bool:
        return self.content_type == "text/event-stream"

    @property
    def streamed(self) -> bool:
        """Whether the body is a stream of frames in its content type's framing (SSE, ...)."""
        return is_stream(self.content_type)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def with_headers(self, **extra: str) -> ServedResponse:
        """Adds or replaces headers; ``retry_after="3"`` sets ``retry-after``."""
        names = {key.replace("_", "-").lower(): value for key, value in extra.items()}
        kept = tuple((k, v) for k, v in self.headers if k.lower() not in names)
        return replace(self, headers=kept + tuple(names.items()))


def served_headers(response: RecordedResponse) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, values[-1])
        for name, values in response.headers.raw.items()
        if values and name.lower() not in FRAMING_HEADERS
    )


def served_from_interaction(interaction: Interaction, *, recorded_timing: bool = True) -> ServedResponse:
    """The recorded response, chunked as recorded (or at its frames), at recorded times or at once."""
    response = interaction.response
    body = response.body
    timed: list[tuple[bytes, float]] = []
    if response.chunks:
        start = 0
        for end, seconds in response.chunks:
            if end > start:
                timed.append((body[start:end], seconds))
                start = end
        if start < len(body):  # bytes past the last recorded offset arrive with the last chunk
            timed.append((body[start:], response.chunks[-1][1]))
    else:
        timed = [(piece, 0.0) for piece in at_frames(body, response.content_type) if piece]
    chunks = tuple(ServedChunk(data, at if recorded_timing else 0.0) for data, at in timed)
    return ServedResponse(
        status=response.status,
        reason=response.reason,
        headers=served_headers(response),
        chunks=chunks,
    )
