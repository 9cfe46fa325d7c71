"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

Each frame (a "message") is: total length (4 bytes, big-endian), headers length (4), the CRC32 of
those 8 bytes, the headers (name, type, value), the payload, and the CRC32 of everything before
it. Bedrock streams carry ``:message-type`` ``event`` (``:event-type: chunk``), ``exception``
(``:exception-type: throttlingException`` ...) or ``error`` (``:error-code``) frames.

botocore's ``EventStreamBuffer`` does the parsing and both CRC checks; this module feeds it one
frame at a time, so a whole body in one chunk costs O(its length) (the buffer slices its data
after every message: given many frames at once it would copy the rest of the body per frame), and
it turns what botocore finds wrong into a ``MalformedStreamError`` naming it: a bad prelude CRC, a
bad message CRC, a length that cannot be (shorter than an empty frame, headers past the frame's
end, over botocore's limits), headers that do not parse, a frame cut off at the end of the body, a
``:message-type`` that is none of the three. Frames before a bad one are still returned; the error
is raised by the next ``feed`` / ``close`` (and every call after), so every way of cutting the same
bytes yields the same frames, then the same error. botocore is imported on first use.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import MalformedStreamError

PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC
EMPTY_FRAME_LENGTH = PRELUDE_LENGTH + 4  # no headers, no payload, the message CRC
MESSAGE_TYPES = frozenset({"event", "exception", "error"})


class EventStreamFrame:
    """One frame: its headers (``:message-type``, ``:event-type``, ...) and its payload bytes."""

    __slots__ = ("headers", "payload")

    def __init__(self, headers: dict[str, Any], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload

    @property
    def message_type(self) -> str:
        return str(self.headers[":message-type"])

    @property
    def event_type(self) -> str | None:
        """``:event-type`` of an event, ``:exception-type`` of an exception, ``:error-code`` of an error."""
        name = {"event": ":event-type", "exception": ":exception-type", "error": ":error-code"}[
            self.message_type
        ]
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        return f"EventStreamFrame({self.headers!r}, {self.payload[:40]!r})"


class EventStreamDecoder:
    """``feed(bytes)`` -> the frames completed; ``close()`` at the end of the body."""

    __slots__ = ("_botocore", "_buffer", "_failure", "_frame_length", "_held", "_offset")

    def __init__(self) -> None:
        try:
            import botocore.eventstream
        except ImportError as exc:
            raise ImportError(
                "reading AWS event streams needs botocore: pip install 'streamproof[bedrock]'"
            ) from exc

        self._botocore = botocore.eventstream
        self._buffer = botocore.eventstream.EventStreamBuffer()
        self._held = bytearray()  # bytes not yet handed to the buffer
        self._frame_length: int | None = None  # of the frame whose prelude the buffer has checked
        self._offset = 0  # of that frame in the body, for the messages
        self._failure: MalformedStreamError | None = None

    def feed(self, chunk: bytes) -> list[EventStreamFrame]:
        if self._failure is not None:
            raise self._failure
        self._held += chunk
        frames: list[EventStreamFrame] = []
        try:
            while (frame := self._next_frame()) is not None:
                frames.append(frame)
        except MalformedStreamError as exc:
            self._failure = exc
            if not frames:
                raise
        return frames

    def close(self) -> list[EventStreamFrame]:
        if self._failure is not None:
            raise self._failure
        if self._held or self._frame_length is not None:
            have = len(self._held) + (PRELUDE_LENGTH if self._frame_length is not None else 0)
            need = f"of {self._frame_length}" if self._frame_length is not None else "of a 12-byte prelude"
            self._failure = self._malformed(f"the body ends inside a frame ({have} bytes {need})")
            raise self._failure
        return []

    def _next_frame(self) -> EventStreamFrame | None:
        parser_error = self._botocore.ParserError
        if self._frame_length is None:
            if len(self._held) < PRELUDE_LENGTH:
                return None
            prelude = bytes(self._held[:PRELUDE_LENGTH])
            (total, headers, _), _ = self._botocore.DecodeUtils.unpack_prelude(prelude)
            if total < EMPTY_FRAME_LENGTH or headers > total - EMPTY_FRAME_LENGTH:
                # before botocore sees it: given a length this short it would read past the frame
                raise self._malformed(
                    f"wrong lengths: a frame of {total} bytes with {headers} bytes of headers"
                )
            del self._held[:PRELUDE_LENGTH]
            self._buffer.add_data(prelude)
            try:
                next(self._buffer, None)  # checks the prelude's CRC and botocore's limits; no frame yet
            except parser_error as exc:
                raise self._malformed(f"bad prelude ({self._what(exc)})") from None
            self._frame_length = total
        rest = self._frame_length - PRELUDE_LENGTH
        if len(self._held) < rest:
            return None
        self._buffer.add_data(bytes(self._held[:rest]))
        del self._held[:rest]
        try:
            message = next(self._buffer)
        except parser_error as exc:
            raise self._malformed(f"bad frame ({self._what(exc)})") from None
        except (struct.error, KeyError, UnicodeDecodeError) as exc:
            # what botocore's header parser lets out, by class, on headers whose CRC is right but that
            # do not parse: a name or value past their end, an unknown value type, a name not UTF-8
            raise self._malformed(f"headers that do not parse ({type(exc).__name__}: {exc})") from None
        frame = EventStreamFrame(message.headers, message.payload)
        message_type = message.headers.get(":message-type")
        if message_type not in MESSAGE_TYPES:
            raise self._malformed(f"unknown :message-type {message_type!r:.40}")
        self._offset += self._frame_length
        self._frame_length = None
        return frame

    def _what(self, exc: Exception) -> str:
        if isinstance(exc, self._botocore.ChecksumMismatch):
            return f"CRC mismatch: {exc}"
        return str(exc)

    def _malformed(self, problem: str) -> MalformedStreamError:
        return MalformedStreamError(f"AWS event stream: frame at byte {self._offset}: {problem}")


class EventStreamFraming:
    """``eventstream``: AWS event-stream frames (Bedrock's ``invoke-with-response-stream``)."""

    name = "eventstream"
    content_type = "application/vnd.amazon.eventstream"

    def decoder(self) -> EventStreamDecoder:
        return EventStreamDecoder()

    def frame_ends(self, body: bytes) -> list[int]:
        """The end offset of every whole frame, by the length each prelude gives (nothing is checked:
        a body cut past its last whole frame, or a frame whose length cannot be, ends the list)."""
        ends: list[int] = []
        pos = 0
        while pos + PRELUDE_LENGTH <= len(body):
            total = int.from_bytes(body[pos : pos + 4], "big")
            if total < EMPTY_FRAME_LENGTH or pos + total > len(body):
                break
            pos += total
            ends.append(pos)
        return ends
