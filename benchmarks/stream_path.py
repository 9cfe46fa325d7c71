"""Per-chunk cost of the reference stream path against the floor (split lines + orjson), same bytes.

Both arms get the same 2,000-chunk body, delivered whole (a cassette replay) and one chunk per
event (a live server). The floor only finds the ``data:`` lines and parses their JSON; the
reference path is a streaming interface turning the bytes into canonical events and a result.
Target: reference ÷ floor ≤ 3, the median of per-round ratios (benchmarks/timing.py).

``sse_long_line_ratio``: one 8 MiB data line fed to the SSE decoder in 64 KiB chunks ÷ the same
bytes in one chunk. A decoder linear in the line's length stays near 1; one that re-joins what it
holds at every chunk grows with the line (a 50 MB line once took 8.5 s).
"""

from __future__ import annotations

import statistics
from functools import partial

import orjson

from streamproof.adapters.formats import interface_for_api
from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.harness.rechunk import at_events

from . import Result
from .bodies import anthropic_messages_body, openai_chat_body
from .timing import paired_ratio, paired_seconds


def floor(chunks: list[bytes]) -> None:
    """Split lines and parse each event's JSON; nothing else (the physical limit in CPython)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                orjson.loads(line[6:])


def reference(api: str, chunks: list[bytes]) -> None:
    interface = interface_for_api(api)()
    for chunk in chunks:
        interface.feed(chunk)
    interface.finish()
    interface.result()


def decode_all(chunks: list[bytes]) -> None:
    decoder = SSEDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.close()


def long_line(repeats: int) -> Result:
    body = b"data: " + b"x" * (8 << 20) + b"\n\n"
    chunks = [body[i : i + (64 << 10)] for i in range(0, len(body), 64 << 10)]
    samples = paired_seconds(
        {"whole": lambda: decode_all([body]), "chunked": lambda: decode_all(chunks)}, repeats
    )
    return {
        "name": "sse_long_line_ratio",
        "value": paired_ratio(samples["chunked"], samples["whole"]),
        "unit": "x",
        "target": "<= 3",
    }


def run(quick: bool = False) -> list[Result]:
    repeats = 5 if quick else 31
    results: list[Result] = []
    for api, name, body in (
        ("chat", "openai_chat", openai_chat_body()),
        ("messages", "anthropic_messages", anthropic_messages_body()),
    ):
        events = len(at_events(body))
        for delivery, chunks in (("whole", [body]), ("per_event", at_events(body))):
            samples = paired_seconds(
                {"floor": partial(floor, chunks), "reference": partial(reference, api, chunks)},
                repeats,
            )
            floor_s, ref_s = statistics.median(samples["floor"]), statistics.median(samples["reference"])
            suffix = "" if delivery == "whole" else "_per_event"
            results.append(
                {"name": f"chunk_us_floor_{name}{suffix}", "value": floor_s / events * 1e6, "unit": "us"}
            )
            results.append(
                {"name": f"chunk_us_reference_{name}{suffix}", "value": ref_s / events * 1e6, "unit": "us"}
            )
            results.append(
                {
                    "name": f"chunk_ratio_{name}{suffix}",
                    "value": paired_ratio(samples["reference"], samples["floor"]),
                    "unit": "x",
                    "target": "<= 3",
                }
            )
    results.append(long_line(repeats))
    return results
