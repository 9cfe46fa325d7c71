"""Tool-call arguments streamed in ~10-byte deltas: what handling them costs against one parse.

The mistake this guards against is re-parsing the accumulated arguments on every delta (quadratic:
119x one parse at 5 KB, 1,250x at 50 KB with jiter; PERF-FACTS.md §2). Three measurements per
size (5 KB, 50 KB, 500 KB), each a ratio to one ``json.loads`` of the whole arguments:

- ``tool_args_ratio_*``: the argument handling of a streaming interface, i.e. every fragment fed
  to ``_tool_delta``'s accumulator and one parse of the joined arguments at the end. Target <= 3.
- ``tool_args_partial_reader_ratio_*``: the incremental partial-JSON reader that streams
  ``inner_thoughts`` / ``send_message`` text out of the arguments (only with those switches on).
  Pure Python, one pass: the ratio must stay flat as the size grows (linear), not meet 3x.
- ``tool_args_stream_us_per_delta_*``: the whole Chat Completions interface on the SSE stream of
  those deltas (SSE, JSON, one event per delta, result), per delta: flat across sizes = O(n).
"""

from __future__ import annotations

import json
from functools import partial

from streamproof.adapters.formats.base import _ToolCallState
from streamproof.adapters.formats.openai_chat import OpenAIChatInterface
from streamproof.adapters.partial_json import TopLevelStringFields

from . import Result
from .bodies import tool_arguments
from .timing import median_seconds

DELTA_BYTES = 10
SIZES = {"5kb": 5_000, "50kb": 50_000, "500kb": 500_000}


def fragments(arguments: str) -> list[str]:
    return [arguments[i : i + DELTA_BYTES] for i in range(0, len(arguments), DELTA_BYTES)]


def chat_tool_stream(parts: list[str]) -> bytes:
    head = '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o","choices":['
    first = '{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_bench","type":"function","function":{"name":"apply_edits","arguments":""}}]},"finish_reason":null}]}'
    lines = [head + first]
    for part in parts:
        lines.append(
            head
            + '{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":'
            + json.dumps(part)
            + "}}]},"
            + '"finish_reason":null}]}'
        )
    lines.append(head + '{"index":0,"delta":{},"finish_reason":"tool_calls"}]}')
    return ("".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n").encode()


def accumulate_then_parse(parts: list[str]) -> object:
    """What an interface does with arguments: ``_tool_delta`` appends each fragment to the call's
    state, ``result()`` joins them once; the consumer parses once."""
    call = _ToolCallState()
    for part in parts:
        call.parts.append(part)
    return json.loads("".join(call.parts))


def read_partial(parts: list[str]) -> None:
    reader = TopLevelStringFields("inner_thoughts", "message")
    for part in parts:
        reader.feed(part)


def run(quick: bool = False) -> list[Result]:
    repeats = 3 if quick else 7
    results: list[Result] = []
    for label, size in SIZES.items():
        arguments = tool_arguments(size)
        parts = fragments(arguments)
        once = median_seconds(partial(json.loads, arguments), repeats * 3)
        handled = median_seconds(partial(accumulate_then_parse, parts), repeats)
        reader = median_seconds(partial(read_partial, parts), repeats)
        body = chat_tool_stream(parts)

        def whole_stream(b: bytes = body) -> None:
            interface = OpenAIChatInterface()
            interface.feed(b)
            interface.finish()
            json.loads(interface.result().tool_calls[0].arguments)

        stream = median_seconds(whole_stream, repeats)
        results += [
            {"name": f"tool_args_ratio_{label}", "value": handled / once, "unit": "x", "target": "<= 3"},
            {"name": f"tool_args_partial_reader_ratio_{label}", "value": reader / once, "unit": "x"},
            {
                "name": f"tool_args_stream_us_per_delta_{label}",
                "value": stream / len(parts) * 1e6,
                "unit": "us",
            },
        ]
    return results
