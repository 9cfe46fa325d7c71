"""Writing AWS event-stream messages (``application/vnd.amazon.eventstream``), which botocore only
reads (``botocore.eventstream.EventStreamBuffer``): the emulator, the faults and tests' fixtures
need frames of their own.

One message: a 12-byte prelude (total length, headers length, both big-endian uint32, and the
CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of everything before it. A header
is its name's length (1 byte) and name, a type byte, and a value; Bedrock only sends strings
(type 7: a uint16 length, then UTF-8), which is all this writes. ``framed_documents`` /
``rewrapped`` let the scrubber see and redact what a message carries (a chunk's base64 bytes)
and write it back with its CRCs right.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

_STRING = 7
_PRELUDE = struct.Struct(">II")
MAX_HEADER_VALUE = 0xFFFF


def header_bytes(headers: Mapping[str, str]) -> bytes:
    out = []
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        if len(raw_name) > 0xFF or len(raw_value) > MAX_HEADER_VALUE:
            raise ValueError(f"event-stream header {name!r} is too long to encode")
        out.append(struct.pack(">B", len(raw_name)) + raw_name)
        out.append(struct.pack(">BH", _STRING, len(raw_value)) + raw_value)
    return b"".join(out)


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` and ``payload``, both CRCs right."""
    return encode_raw(header_bytes(headers), payload)


def encode_raw(raw_headers: bytes, payload: bytes) -> bytes:
    """One message of headers already encoded (``header_bytes``, or another message's)."""
    total = _PRELUDE.size + 4 + len(raw_headers) + len(payload) + 4
    prelude = _PRELUDE.pack(total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def split_message(message: bytes) -> tuple[bytes, bytes] | None:
    """``(encoded headers, payload)`` of one whole message whose prelude is sound; None otherwise
    (the CRCs are the decoder's business)."""
    if len(message) < _PRELUDE.size + 8:
        return None
    total, headers_length = _PRELUDE.unpack_from(message)
    if total != len(message) or _PRELUDE.size + 4 + headers_length + 4 > total:
        return None
    start = _PRELUDE.size + 4
    return message[start : start + headers_length], message[start + headers_length : total - 4]


def event_frame(event_type: str, payload: bytes) -> bytes:
    """A ``:message-type: event`` message (Bedrock's ``chunk``)."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, payload)


def chunk_frame(event: Mapping[str, object], extra: Mapping[str, object] | None = None) -> bytes:
    """Bedrock's ``chunk`` event: ``{"bytes": base64 of one event's JSON}``, plus ``extra`` keys
    merged into that JSON (``amazon-bedrock-invocationMetrics`` on the last one)."""
    document = {**event, **(extra or {})}
    encoded = base64.b64encode(orjson.dumps(document)).decode()
    return event_frame("chunk", orjson.dumps({"bytes": encoded}))


def exception_frame(exception_type: str, message: str) -> bytes:
    """A ``:message-type: exception`` message (``throttlingException``, ``modelStreamErrorException``, ...)."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, orjson.dumps({"message": message}))


def message_ends(body: bytes) -> list[int]:
    """The end offset of every whole message in ``body``, read from the preludes' total lengths
    (a trailing partial message is not counted)."""
    ends, pos = [], 0
    while pos + _PRELUDE.size <= len(body):
        total, _ = _PRELUDE.unpack_from(body, pos)
        if total < _PRELUDE.size + 8 or pos + total > len(body):
            break
        pos += total
        ends.append(pos)
    return ends


@dataclass(frozen=True)
class _Framed:
    start: int
    end: int
    headers: bytes
    payload: Any  # the payload's JSON (a chunk's ``bytes`` decoded into ``document``), else None
    document: bytes  # what the frame carries: a chunk's decoded bytes, or the raw payload


def framed_documents(body: bytes) -> list[_Framed] | None:
    """What each message of an event-stream ``body`` carries; None when ``body`` is not whole
    messages with a sound first prelude."""
    ends = message_ends(body)
    if not ends or ends[-1] != len(body) or struct.unpack_from(">I", body, 8)[0] != zlib.crc32(body[:8]):
        return None
    framed, start = [], 0
    for end in ends:
        parts = split_message(body[start:end])
        if parts is None:
            return None
        headers, raw = parts
        payload: Any = None
        document = raw
        try:
            decoded = orjson.loads(raw)
            if isinstance(decoded, dict) and isinstance(decoded.get("bytes"), str):
                document = base64.b64decode(decoded["bytes"], validate=True)
                payload = decoded
        except (orjson.JSONDecodeError, binascii.Error):
            pass  # not JSON, or no base64 in it: the payload is what the frame carries
        framed.append(_Framed(start, end, headers, payload, document))
        start = end
    return framed


def documents(body: bytes) -> list[bytes] | None:
    framed = framed_documents(body)
    return None if framed is None else [frame.document for frame in framed]


def rewrapped(body: bytes, new_documents: list[bytes]) -> tuple[bytes, list[tuple[int, int, int]]]:
    """``body`` with each message carrying the document of ``new_documents`` in its place (CRCs
    recomputed), and ``(start, end, new_length)`` for every message that changed."""
    framed = framed_documents(body)
    if framed is None or len(framed) != len(new_documents):
        raise ValueError("rewrapped needs the documents of this body's own messages")
    out, edits, last = [], [], 0
    for frame, document in zip(framed, new_documents, strict=True):
        if document == frame.document:
            continue
        if frame.payload is not None:
            payload = orjson.dumps({**frame.payload, "bytes": base64.b64encode(document).decode()})
        else:
            payload = document
        message = encode_raw(frame.headers, payload)
        out += [body[last : frame.start], message]
        edits.append((frame.start, frame.end, len(message)))
        last = frame.end
    out.append(body[last:])
    return b"".join(out), edits
