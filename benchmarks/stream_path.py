"""Per-chunk cost of the reference stream path against the floor (split lines + orjson), same bytes.

Both arms get the same 2,000-chunk body, delivered whole (a cassette replay) and one chunk per
event (a live server). The floor only finds the ``data:`` lines and parses their JSON; the
reference path is a streaming interface turning the bytes into canonical events and a result.
Target: reference ÷ floor ≤ 3, the median of per-round ratios (benchmarks/timing.py).

Bedrock (``chunk_ratio_bedrock_messages``): the same Anthropic events, one AWS event-stream frame
each, whole or one chunk per frame. Its floor cuts the frames by the lengths in their preludes and,
per frame, parses the payload's JSON, decodes its base64 ``bytes`` and parses that event's JSON
(no CRC, no headers: the least that reaches the event).

``sse_long_line_ratio``: one 8 MiB data line fed to the SSE decoder in 64 KiB chunks ÷ the same
bytes in one chunk. A decoder linear in the line's length stays near 1; one that re-joins what it
holds at every chunk grows with the line (a 50 MB line once took 8.5 s).
"""

from __future__ import annotations

import statistics
from binascii import a2b_base64
from collections.abc import Callable
from functools import partial

import orjson

from streamproof.adapters.formats import format_named
from streamproof.adapters.framing import framing_named
from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.harness.rechunk import at_events, at_offsets

from . import Result
from .bodies import anthropic_messages_body, bedrock_messages_body, openai_chat_body
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


def eventstream_floor(chunks: list[bytes]) -> None:
    """Cut frames by their preludes' lengths; per frame, the payload's JSON, its base64, the event's JSON."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        pos, size = 0, len(buf)
        while size - pos >= 12:
            total = int.from_bytes(buf[pos : pos + 4], "big")
            if size - pos < total:
                break
            headers = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            orjson.loads(a2b_base64(orjson.loads(buf[pos + 12 + headers : pos + total - 4])["bytes"]))
            pos += total
        buf = buf[pos:]


def at_frames(body: bytes) -> list[bytes]:
    """One chunk per event-stream frame."""
    return at_offsets(body, framing_named("eventstream").frame_ends(body))


def reference(name: str, chunks: list[bytes]) -> None:
    interface = format_named(name).interface()()
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
    formats: list[tuple[str, bytes, Callable[[list[bytes]], None], Callable[[bytes], list[bytes]]]] = [
        ("openai_chat", openai_chat_body(), floor, at_events),
        ("anthropic_messages", anthropic_messages_body(), floor, at_events),
        ("bedrock_messages", bedrock_messages_body(), eventstream_floor, at_frames),
    ]
    for name, body, floor_of, cut in formats:
        events = len(cut(body))
        for delivery, chunks in (("whole", [body]), ("per_event", cut(body))):
            samples = paired_seconds(
                {"floor": partial(floor_of, chunks), "reference": partial(reference, name, chunks)},
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
