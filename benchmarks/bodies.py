"""Synthetic provider bodies for the benchmarks, shaped like real streams (PERF-FACTS.md §1)."""

from __future__ import annotations

import json
import random


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
