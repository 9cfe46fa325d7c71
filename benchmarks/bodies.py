"""Synthetic provider bodies for the benchmarks, shaped like real streams (PERF-FACTS.md §1)."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib


def openai_chat_body(deltas: int = 2000, seed: int = 0) -> bytes:
    """Role chunk, ``deltas`` content chunks of 3–4 chars, finish chunk, usage-only chunk, [DONE]."""
    rng = random.Random(seed)
    head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_bench","choices":['
    lines = [
        head
        + '{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"abc"}'
    ]
    for _ in range(deltas):
        word = "".join(rng.choice("abcdefghij ") for _ in range(rng.choice((3, 4))))
        pad = "x" * rng.randint(0, 12)
        lines.append(
            head
            + '{"index":0,"delta":{"content":'
            + json.dumps(word)
            + '},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"'
            + pad
            + '"}'
        )
    lines.append(head + '{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}')
    lines.append(
        head
        + '],"usage":{"prompt_tokens":20,"completion_tokens":2000,"total_tokens":2020,'
        + '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
        + '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}'
    )
    return ("".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n").encode()


def anthropic_messages_body(deltas: int = 2000, seed: int = 0) -> bytes:
    """message_start, a text block of ``deltas`` text_deltas with a ping, message_delta, message_stop."""
    rng = random.Random(seed)
    events = [
        (
            "message_start",
            '{"type":"message_start","message":{"model":"claude-sonnet-4-20250514","id":"msg_bench","type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}',
        ),
        (
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        ),
        ("ping", '{"type": "ping"}'),
    ]
    for _ in range(deltas):
        word = "".join(rng.choice("abcdefghij ") for _ in range(rng.choice((3, 4))))
        events.append(
            (
                "content_block_delta",
                '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
                + json.dumps(word)
                + "}}",
            )
        )
    events += [
        ("content_block_stop", '{"type":"content_block_stop","index":0   }'),
        (
            "message_delta",
            '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2000}}',
        ),
        ("message_stop", '{"type":"message_stop"       }'),
    ]
    return "".join(f"event: {name}\ndata: {data}\n\n" for name, data in events).encode()


def tool_arguments(size: int, seed: int = 0) -> str:
    """Realistic tool-call arguments JSON of about ``size`` bytes (escaped newlines, quotes, numbers)."""
    rng = random.Random(seed)
    edits: list[dict[str, object]] = []
    doc: dict[str, object] = {"summary": 'Refactor the "parser"\\ module\nand its tests', "edits": edits}
    while len(json.dumps(doc)) < size:
        edits.append(
            {
                "path": f"src/module_{rng.randint(0, 999)}.py",
                "line": rng.randint(1, 5000),
                "old": 'print("hello")\n\treturn x\\y',
                "new": 'log.info("hi \\u00e9")\n    return x / 1.5e-3',
                "tags": ["refactor", "style"],
                "confidence": rng.random(),
            }
        )
    return json.dumps(doc)


def bedrock_messages_body(deltas: int = 2000, seed: int = 0) -> bytes:
    """``anthropic_messages_body``'s events as Bedrock streams them: one AWS event-stream frame each
    (``:event-type: chunk``), payload ``{"bytes": "<base64 of the event>", "p": "<padding>"}`` (Bedrock
    pads with ``p`` of random length), the invocation metrics in ``message_stop``. Written here with
    ``struct`` + ``zlib.crc32``: botocore only reads frames."""
    rng = random.Random(seed)
    frames = []
    for event in anthropic_messages_body(deltas, seed).split(b"\n\n")[:-1]:
        data = event.split(b"data: ", 1)[1]
        if data.startswith(b'{"type":"message_stop"'):
            data = (
                b'{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":20,'
                b'"outputTokenCount":%d,"invocationLatency":4120,"firstByteLatency":380}}' % deltas
            )
        padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[: rng.randint(1, 60)]
        payload = json.dumps({"bytes": base64.b64encode(data).decode(), "p": padding}).encode()
        frames.append(_event_stream_frame(_CHUNK_HEADERS, payload))
    return b"".join(frames)


def _event_stream_headers(headers: dict[str, str]) -> bytes:
    """String-valued headers (type 7), as Bedrock sends them: name length, name, 7, value length, value."""
    out = b""
    for name, value in headers.items():
        out += struct.pack(">B", len(name)) + name.encode() + b"\x07"
        out += struct.pack(">H", len(value)) + value.encode()
    return out


_CHUNK_HEADERS = _event_stream_headers(
    {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
)


def _event_stream_frame(headers: bytes, payload: bytes) -> bytes:
    """Total length, headers length, prelude CRC32, headers, payload, message CRC32."""
    prelude = struct.pack(">II", 12 + len(headers) + len(payload) + 4, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))
