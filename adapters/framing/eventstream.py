"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), decoded incrementally.

Each frame (a "message") is: total length (4 bytes, big-endian), headers length (4), the CRC32 of
those 8 bytes, the headers (name, type, value), the payload, and the CRC32 of everything before
it. Bedrock streams carry ``:message-type`` ``event`` (``:event-type: chunk``), ``exception``
(``:exception-type: throttlingException`` ...) or ``error`` (``:error-code``) frames.

Measured first with botocore's ``EventStreamBuffer`` doing all of it, the framing was the
bottleneck of the Bedrock path: ~25 µs a frame, two thirds of it in botocore (its pure-Python
header parser, per frame), against ~4 µs for an Anthropic SSE event. So the prelude and the two
CRC checks are read here (``struct``, ``zlib.crc32``: C), and botocore's ``EventStreamHeaderParser``
parses each distinct header block once (real Bedrock sends the same three headers on every chunk).
What is wrong becomes a ``MalformedStreamError`` naming the frame's offset and the problem: a bad
prelude CRC, a bad message CRC, a length that cannot be (shorter than an empty frame, headers past
the frame's end, over botocore's limits), headers that do not parse, a frame cut off at the end of
the body, a ``:message-type`` that is none of the three. Frames before a bad one are still
returned; the error is raised by the next ``feed`` / ``close`` (and every call after), so every way
of cutting the same bytes yields the same frames, then the same error. botocore is imported on
first use (``pip install 'streamproof[bedrock]'``).
"""

from __future__ import annotations

import struct
import zlib
from typing import Any, NamedTuple

from ..errors import MalformedStreamError

PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC
EMPTY_FRAME_LENGTH = PRELUDE_LENGTH + 4  # no headers, no payload, the message CRC
MAX_HEADERS_LENGTH = 128 * 1024  # botocore's limits (EventStreamBuffer), so memory stays bounded
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
_PRELUDE = struct.Struct(">III")
_CRC = struct.Struct(">I")
_unpack_prelude = _PRELUDE.unpack_from
_unpack_crc = _CRC.unpack_from
crc32 = zlib.crc32
MESSAGE_TYPES = frozenset({"event", "exception", "error"})


class EventStreamFrame(NamedTuple):
    """One frame: its headers (``:message-type``, ``:event-type``, ...) and its payload bytes.

    ``headers`` is shared by the frames of one decoder whose header blocks are the same bytes: read it,
    do not change it. A tuple, built by the decoder with ``tuple.__new__`` (in C): Bedrock sends a
    frame per token, and a class with an ``__init__`` cost a Python call per frame."""

    headers: dict[str, Any]
    payload: bytes

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


_new_frame = tuple.__new__


class EventStreamDecoder:
    """``feed(bytes)`` -> the frames completed; ``close()`` at the end of the body."""

    __slots__ = (
        "_consumed",
        "_failure",
        "_header_parser",
        "_headers_seen",
        "_held",
        "_held_size",
        "_last_block",
        "_last_headers",
        "_last_length",
        "_need",
        "_parser_error",
        "_start",
    )

    def __init__(self) -> None:
        try:
            import botocore.eventstream
        except ImportError as exc:
            raise ImportError(
                "reading AWS event streams needs botocore: pip install 'streamproof[bedrock]'"
            ) from exc

        self._header_parser = botocore.eventstream.EventStreamHeaderParser()
        self._parser_error: type[Exception] = botocore.eventstream.ParserError
        self._headers_seen: dict[bytes, dict[str, Any]] = {}  # header block -> its parsed headers
        # the header block of the frame before (its length: -1 before the first), and its headers
        self._last_length = -1
        self._last_block = b""
        self._last_headers: dict[str, Any] = {}
        # The start of a frame whose end has not come yet, as the pieces it came in: joined once
        # ``_need`` bytes are held (its prelude, then the whole frame), so a frame over many chunks
        # costs O(its length). A chunk that starts at a frame (a whole body, a frame per chunk) is
        # read in place.
        self._held: list[bytes] = []
        self._held_size = 0
        self._need = PRELUDE_LENGTH
        self._consumed = 0  # bytes of the body before the bytes being read, for the messages
        self._start = 0  # the offset, in those bytes, of the frame being read
        self._failure: MalformedStreamError | None = None

    def feed(self, chunk: bytes) -> list[EventStreamFrame]:
        if self._failure is not None:
            raise self._failure
        if type(chunk) is not bytes:
            chunk = bytes(chunk)  # a bytearray or memoryview: its slices would not be bytes
        held = self._held
        if held:
            held.append(chunk)
            self._held_size += len(chunk)
            if self._held_size < self._need:
                return []
            chunk = b"".join(held)
            held.clear()
        frames: list[EventStreamFrame] = []
        # The frame loop, inlined: Bedrock sends one frame per token, and a method call per frame
        # was a tenth of the Bedrock path (benchmarks/stream_path.py). Every check is one condition
        # here (a total under EMPTY_FRAME_LENGTH fails the first: a headers length is never negative);
        # ``_malformed_frame`` finds which failed, in the order a reader meets them.
        start, size, total = 0, len(chunk), PRELUDE_LENGTH
        append = frames.append
        last_length, last_block, last_headers = self._last_length, self._last_block, self._last_headers
        try:
            while size - start >= PRELUDE_LENGTH:
                total, headers_length, prelude_crc = _unpack_prelude(chunk, start)
                payload_start = start + PRELUDE_LENGTH + headers_length
                end = start + total - 4
                if (
                    headers_length > total - EMPTY_FRAME_LENGTH
                    or crc32(chunk[start : start + 8]) != prelude_crc
                    or headers_length > MAX_HEADERS_LENGTH
                    or end - payload_start > MAX_PAYLOAD_LENGTH
                ):
                    self._start = start
                    raise self._malformed_frame(chunk, start)
                if size - start < total:
                    break
                if crc32(chunk[start:end]) != _unpack_crc(chunk, end)[0]:
                    self._start = start
                    raise self._malformed_frame(chunk, start)
                # the usual case: the header block of the frame before, compared in place
                if headers_length == last_length and chunk.startswith(last_block, start + PRELUDE_LENGTH):
                    headers = last_headers
                else:
                    self._start = start
                    block = chunk[start + PRELUDE_LENGTH : payload_start]
                    headers = self._headers(block)
                    message_type = headers.get(":message-type")
                    if message_type not in MESSAGE_TYPES:
                        raise self._malformed(f"unknown :message-type {message_type!r:.40}")
                    last_length, last_block, last_headers = headers_length, block, headers
                append(_new_frame(EventStreamFrame, (headers, chunk[payload_start:end])))
                start += total
        except MalformedStreamError as exc:
            self._failure = exc
            if not frames:
                raise
        self._last_length, self._last_block, self._last_headers = last_length, last_block, last_headers
        if start < size:  # the start of a frame: held until its prelude, then all of it, has come
            held.append(chunk[start:] if start else chunk)
            self._held_size = size - start
            self._need = total if self._held_size >= PRELUDE_LENGTH else PRELUDE_LENGTH
        self._consumed += start
        self._start = 0
        return frames

    def close(self) -> list[EventStreamFrame]:
        if self._failure is not None:
            raise self._failure
        if self._held:
            have = self._held_size
            if have >= PRELUDE_LENGTH:
                need = f"of {_PRELUDE.unpack_from(b''.join(self._held))[0]}"
            else:
                need = f"of a {PRELUDE_LENGTH}-byte prelude"
            self._failure = self._malformed(f"the body ends inside a frame ({have} bytes {need})")
            raise self._failure
        return []

    def _malformed_frame(self, data: bytes, start: int) -> MalformedStreamError:
        """What is wrong with the frame at ``start``, whose prelude or message CRC ``feed`` refused."""
        total, headers_length, prelude_crc = _PRELUDE.unpack_from(data, start)
        if total < EMPTY_FRAME_LENGTH or headers_length > total - EMPTY_FRAME_LENGTH:
            return self._malformed(
                f"wrong lengths: a frame of {total} bytes with {headers_length} bytes of headers"
            )
        if (crc := crc32(data[start : start + 8])) != prelude_crc:
            return self._malformed(
                f"bad prelude (CRC mismatch: expected 0x{prelude_crc:08x}, calculated 0x{crc:08x})"
            )
        if headers_length > MAX_HEADERS_LENGTH:
            return self._malformed(
                f"bad prelude (Header length of {headers_length} exceeded the maximum of {MAX_HEADERS_LENGTH})"
            )
        payload_length = total - headers_length - EMPTY_FRAME_LENGTH
        if payload_length > MAX_PAYLOAD_LENGTH:
            return self._malformed(
                f"bad prelude (Payload length of {payload_length} exceeded the maximum of {MAX_PAYLOAD_LENGTH})"
            )
        end = start + total - 4
        (message_crc,) = _CRC.unpack_from(data, end)
        crc = crc32(data[start:end])
        return self._malformed(
            f"bad frame (CRC mismatch: expected 0x{message_crc:08x}, calculated 0x{crc:08x})"
        )

    def _headers(self, block: bytes) -> dict[str, Any]:
        """botocore's header parser, once per distinct header block (Bedrock repeats one on every chunk)."""
        parsed = self._headers_seen.get(block)  # usual when two blocks take turns
        if parsed is None:
            try:
                parsed = self._header_parser.parse(block)
            except self._parser_error as exc:  # a duplicate header
                raise self._malformed(f"bad frame ({exc})") from None
            except (struct.error, KeyError, UnicodeDecodeError) as exc:
                # what botocore's header parser lets out, by class, on headers whose CRC is right but
                # that do not parse: a name or value past their end, an unknown value type, a name not UTF-8
                raise self._malformed(f"headers that do not parse ({type(exc).__name__}: {exc})") from None
            if len(self._headers_seen) < 64:
                self._headers_seen[block] = parsed
        return parsed

    def _malformed(self, problem: str) -> MalformedStreamError:
        return MalformedStreamError(
            f"AWS event stream: frame at byte {self._consumed + self._start}: {problem}"
        )


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
