"""How a response body is cut into frames on the wire, one framing per module, found by name.

A wire format names its framing (``WireFormat.framing``); its streaming interface builds the
framing's decoder and reads the frames it yields. ``FRAMINGS`` holds every framing by name;
``framing_for_content_type`` says whether a response is a stream at all (the content type is what
"streamed" means: ``text/event-stream`` for SSE).

- ``sse``: Server-Sent Events (``sse.SSEDecoder``; frames are ``(event, data, id)`` tuples).
- ``eventstream``: AWS event-stream frames (``eventstream.EventStreamDecoder``, over botocore).

``frame_ends(body)`` gives the end offset of every whole frame, for the code that cuts a body at
frame boundaries without reading it (re-chunking "at events", fault strike points, served pacing).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from .eventstream import EventStreamFraming
from .sse import SSEDecoder


class FrameDecoder(Protocol):
    """Incremental: ``feed`` returns the frames a chunk completes, ``close`` those left at the end."""

    def feed(self, chunk: bytes) -> list[Any]: ...

    def close(self) -> list[Any]: ...


class Framing(Protocol):
    name: str
    content_type: str

    def decoder(self) -> FrameDecoder: ...

    def frame_ends(self, body: bytes) -> list[int]: ...


_SSE_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class SSEFraming:
    """Server-Sent Events: a frame ends at a blank line (CRLF, LF or CR line ends)."""

    name = "sse"
    content_type = "text/event-stream"

    def decoder(self) -> SSEDecoder:
        return SSEDecoder()

    def frame_ends(self, body: bytes) -> list[int]:
        return [match.end() for match in _SSE_EVENT_END.finditer(body)]


FRAMINGS: dict[str, Framing] = {framing.name: framing for framing in (SSEFraming(), EventStreamFraming())}


def framing_named(name: str) -> Framing:
    """The framing called ``name``; a ``ValueError`` naming the known ones otherwise."""
    framing = FRAMINGS.get(name)
    if framing is None:
        raise ValueError(f"no framing {name!r} (known: {', '.join(sorted(FRAMINGS))})")
    return framing


def framing_for_content_type(content_type: str) -> Framing | None:
    """The framing a response of ``content_type`` is cut in; None when it is not a stream (JSON, ...).

    Parameters (``; charset=utf-8``) and case do not matter.
    """
    bare = content_type.split(";", 1)[0].strip().lower()
    for framing in FRAMINGS.values():
        if framing.content_type == bare:
            return framing
    return None


__all__ = [
    "FRAMINGS",
    "EventStreamFraming",
    "FrameDecoder",
    "Framing",
    "SSEFraming",
    "framing_for_content_type",
    "framing_named",
]
