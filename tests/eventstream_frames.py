"""AWS event-stream frames written by the tests themselves (botocore only reads them), so the
decoder is checked against an encoding of its own: total length, headers length, prelude CRC32,
headers (string values only, type 7, as Bedrock sends them), payload, message CRC32."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any


def headers_bytes(headers: dict[str, str]) -> bytes:
    out = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += (
            struct.pack(">B", len(raw_name))
            + raw_name
            + b"\x07"
            + struct.pack(">H", len(raw_value))
            + raw_value
        )
    return out


def frame(headers: dict[str, str] | bytes, payload: bytes) -> bytes:
    raw_headers = headers if isinstance(headers, bytes) else headers_bytes(headers)
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def chunk(event: dict[str, Any], **extra: str) -> bytes:
    """One Bedrock ``chunk`` frame carrying one Anthropic event."""
    body = {"bytes": base64.b64encode(json.dumps(event).encode()).decode(), **extra}
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(body).encode())


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())
