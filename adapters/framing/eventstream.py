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

A sound frame whose headers are bytes botocore has already parsed in this stream (a Bedrock stream
repeats the same three headers on every chunk) is read without it: ``struct`` for the lengths,
``zlib.crc32`` for both checks, the headers botocore made of those bytes. That is ~10x quicker than
botocore's buffer, which parses every header again in Python (``streamproof bench --only
stream_path``, ``chunk_ratio_bedrock_messages``). Anything else goes to botocore as above.
"""

from __future__ import annotations

import struct
from typing import Any
from zlib import crc32

from ..errors import MalformedStreamError

PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC
EMPTY_FRAME_LENGTH = PRELUDE_LENGTH + 4  # no headers, no payload, the message CRC
MESSAGE_TYPES = frozenset({"event", "exception", "error"})
MAX_PAYLOAD_LENGTH = 24 << 20  # botocore's limit (InvalidPayloadLength): such a frame is its to refuse
_PRELUDE = struct.Struct(">III")
_MESSAGE_CRC = struct.Struct(">I")
_KNOWN_HEADERS = 16  # distinct header blocks remembered per stream (Bedrock's has one or two)


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

    __slots__ = ("_botocore", "_buffer", "_failure", "_frame_length", "_held", "_known_headers", "_offset")

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
        self._known_headers: dict[bytes, dict[str, Any]] = {}  # header bytes -> what botocore made of them

    def feed(self, chunk: bytes) -> list[EventStreamFrame]:
        if self._failure is not None:
            raise self._failure
        self._held += chunk
        frames: list[EventStreamFrame] = []
        try:
            while True:
                frames += self._sound_frames()
                frame = self._next_frame()
                if frame is None:
                    break
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
        data = bytes(self._held[:rest])
        self._buffer.add_data(data)
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
        if len(self._known_headers) < _KNOWN_HEADERS:
            self._known_headers[data[: message.prelude.headers_length]] = dict(message.headers)
        self._offset += self._frame_length
        self._frame_length = None
        return frame

    def _sound_frames(self) -> list[EventStreamFrame]:
        """The frames at the start of what is held that are whole, whose CRCs both match and whose
        header bytes botocore has parsed before in this stream. The first other one (not whole yet, a
        wrong length or CRC, new headers) is left to ``_next_frame``, which hands it to botocore, so
        every error is found and worded as before."""
        frames: list[EventStreamFrame] = []
        if self._frame_length is not None:  # botocore holds a frame's prelude: it reads the rest
            return frames
        held, known = self._held, self._known_headers
        size, start = len(held), 0
        while size - start >= PRELUDE_LENGTH:
            total, headers_length, prelude_crc = _PRELUDE.unpack_from(held, start)
            payload_start, payload_end = start + PRELUDE_LENGTH + headers_length, start + total - 4
            if size - start < total or not 0 <= payload_end - payload_start <= MAX_PAYLOAD_LENGTH:
                break
            headers = known.get(bytes(held[start + PRELUDE_LENGTH : payload_start]))
            if headers is None or crc32(held[start : start + 8]) != prelude_crc:
                break
            payload = bytes(held[payload_start:payload_end])
            message_crc = crc32(payload, crc32(held[start:payload_start]))
            if message_crc != _MESSAGE_CRC.unpack_from(held, payload_end)[0]:
                break
            frames.append(EventStreamFrame(dict(headers), payload))  # a dict of its own, as from botocore
            start += total
        if start:
            del held[:start]
            self._offset += start
        return frames

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
