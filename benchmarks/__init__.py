"""Performance measurements, run by ``streamproof bench`` (never by the test run).

Each module listed in ``MODULES`` exposes ``run(quick: bool) -> list[Result]``. Targets are
ratios measured within one run (same machine, same moment), never absolute times.
"""

from __future__ import annotations

from typing import TypedDict


class Result(TypedDict, total=False):
    name: str
    value: float
    unit: str
    target: str  # e.g. "<= 3"; informational
    note: str


MODULES = [
    "stream_path",
    "tool_args",
    "cassette_load",
    "trace_overhead",
    "check_time",
    "emulator",
    "user_cassettes",
    "replay_process",
]
