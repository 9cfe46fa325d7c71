"""Per-chunk cost of the reference stream path against the floor (split lines + orjson), same bytes.

Both arms get the same 2,000-chunk body, delivered whole (a cassette replay) and one chunk per
event (a live server). The floor only finds the ``data:`` lines and parses their JSON; the
reference path is a streaming interface turning the bytes into canonical events and a result.
Target: reference ÷ floor ≤ 3, the median of per-round ratios (benchmarks/timing.py).
"""

from __future__ import annotations

import statistics

import orjson

from streamproof.adapters.providers import interface_for_api
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
                {"floor": lambda c=chunks: floor(c), "reference": lambda c=chunks, a=api: reference(a, c)},
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
    return results
