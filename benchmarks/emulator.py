"""The provider emulator over a loopback socket: time to the first byte and to the end of a
``long_text`` stream (~175 SSE events, one flush each), per API, through one reused httpx2 client.
Informational (no target): it says how much of a test's time the emulator itself costs.
"""

from __future__ import annotations

import statistics
import time

import httpx2

from ..harness.emulator import Emulator
from ..harness.scenarios import CATALOGUE
from . import Result

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}
HEADERS = {"authorization": "Bearer bench", "x-api-key": "bench", "x-streamproof-scenario": "long_text"}


def _one_stream(client: httpx2.Client, url: str, request: dict[str, object]) -> tuple[float, float, int]:
    started = time.perf_counter()
    first: float | None = None
    events = 0
    with client.stream("POST", url, headers=HEADERS, json=request) as response:
        for chunk in response.iter_bytes():
            if first is None:
                first = time.perf_counter() - started
            events += chunk.count(b"\n\n")
    return first or 0.0, time.perf_counter() - started, events


def run(quick: bool) -> list[Result]:
    repeats = 5 if quick else 21
    results: list[Result] = []
    with Emulator() as emulator, httpx2.Client() as client:
        for api, path in PATHS.items():
            request = CATALOGUE["long_text"].request(api)
            _one_stream(client, emulator.base_url + path, request)  # warm-up: connection, imports
            samples = [_one_stream(client, emulator.base_url + path, request) for _ in range(repeats)]
            first = statistics.median(s[0] for s in samples)
            whole = statistics.median(s[1] for s in samples)
            events = samples[0][2]
            results += [
                Result(name=f"emulator_first_byte_ms_{api}", value=first * 1000, unit="ms"),
                Result(
                    name=f"emulator_stream_ms_{api}", value=whole * 1000, unit="ms", note=f"{events} events"
                ),
                Result(name=f"emulator_events_per_s_{api}", value=events / whole, unit="events/s"),
            ]
    return results
