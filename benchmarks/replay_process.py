"""Whole-process cost of ``streamproof replay --format json`` per event, against a floor.

What a user waits for when replaying a long recorded stream from the command line: a child
process (``python -m streamproof.cli replay --format json``) on a 40,000-event cassette, less the
same on a 1-event cassette (interpreter start, imports and what every run does once cancel out),
divided by the events between them. The floor is what the file itself costs to read in this
process: ``yaml.load`` with libyaml (``cassette.YAML_LOADER``) plus one ``orjson.loads`` per
``data:`` line of the body, divided by the 40,000 events. The cassettes are written here by
``save_cassette`` the way the recorder writes them: one recorded chunk per event, with its time
(``streamproof_chunks``), so the replay feeds the interface chunk by chunk.

``replay_process_ratio_<format>``: replay per event ÷ floor per event, the median of per-round
ratios (the three arms run in shuffled order in each round, benchmarks/timing.py). Target: <= 3.
Times are CPU seconds (the child's user + system time, the floor's ``process_time``): on a busy
machine a child's wall time also holds the time it waited for a core, which is no cost of its own.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson
import yaml

from streamproof.harness.cassette import (
    YAML_LOADER,
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    new_metadata,
    save_cassette,
)
from streamproof.harness.rechunk import at_events

from . import Result
from .bodies import anthropic_messages_body, openai_chat_body
from .timing import paired_ratio, paired_values

EVENTS = 40_000

# name, provider, api, URL, request body, the stream body of EVENTS events
_FORMATS: tuple[tuple[str, str, str, str, bytes, Callable[[], bytes]], ...] = (
    (
        "anthropic_messages",
        "anthropic",
        "messages",
        "https://api.anthropic.com/v1/messages",
        b'{"max_tokens":1024,"messages":[{"role":"user","content":"bench"}],"model":"claude-sonnet-4-5","stream":true}',
        lambda: anthropic_messages_body(deltas=EVENTS - 6),  # 6 events besides the deltas
    ),
    (
        "openai_chat",
        "openai",
        "chat",
        "https://api.openai.com/v1/chat/completions",
        b'{"messages":[{"role":"user","content":"bench"}],"model":"gpt-4o-mini","stream":true}',
        lambda: openai_chat_body(deltas=EVENTS - 4),  # role, finish, usage chunks and [DONE]
    ),
)


def recorded_cassette(path: Path, provider: str, api: str, url: str, request: bytes, body: bytes) -> None:
    """``body`` as the recorder saves a stream: one chunk per event, 10 ms apart."""
    chunks, end = [], 0
    for i, event in enumerate(at_events(body)):
        end += len(event)
        chunks.append((end, 0.2 + i * 0.01))
    interaction = Interaction(
        0,
        RecordedRequest("POST", url, Headers({"content-type": ["application/json"]}), request),
        RecordedResponse(200, "OK", Headers({"content-type": ["text/event-stream"]}), body, chunks),
    )
    metadata = new_metadata(source="emulator", provider=provider, api=api, scenario="bench")
    save_cassette(path, Cassette(path, [interaction], metadata))


def replay_cpu_seconds(path: Path) -> float:
    """CPU seconds (user + system) of one ``streamproof replay --format json`` child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "replay", "--format", "json", str(path)],
        capture_output=True,
        timeout=120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"streamproof replay failed (exit {done.returncode}): {done.stderr[-2000:]!r}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def floor(path: Path) -> None:
    """Load the file with libyaml, parse each data line's JSON: the least a replay must do."""
    data = yaml.load(path.read_bytes(), Loader=YAML_LOADER)
    for interaction in data["interactions"]:
        for line in interaction["response"]["body"]["string"].split("\n"):
            if line.startswith("data: ") and line != "data: [DONE]":
                orjson.loads(line[6:])


def floor_cpu_seconds(path: Path) -> float:
    started = time.process_time()
    floor(path)
    return time.process_time() - started


def _check_replays(path: Path, expected_text: str) -> None:
    """The long cassette replays to its whole text (what the benchmark times is a real replay)."""
    done = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "replay", "--format", "json", str(path)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    line = orjson.loads(done.stdout)
    if line["error"] is not None or line["result"]["text"] != expected_text:
        raise RuntimeError(f"{path.name} did not replay to its text: {line['error']}")


def _expected_text(body: bytes) -> str:
    texts = []
    for event in at_events(body):
        data = orjson.loads(event.split(b"data: ", 1)[1]) if b"[DONE]" not in event else {}
        if data.get("type") == "content_block_delta":
            texts.append(data["delta"]["text"])
        elif data.get("choices"):
            texts.append(data["choices"][0]["delta"].get("content") or "")
    return "".join(texts)


def run(quick: bool = False) -> list[Result]:
    repeats = 3 if quick else 7
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as directory:
        for name, provider, api, url, request, make_body in _FORMATS:
            body = make_body()
            events = at_events(body)
            assert len(events) == EVENTS, len(events)
            big, small = Path(directory) / f"{name}.yaml", Path(directory) / f"{name}_1.yaml"
            recorded_cassette(big, provider, api, url, request, body)
            recorded_cassette(small, provider, api, url, request, events[0])
            _check_replays(big, _expected_text(body))
            samples = paired_values(
                {
                    "big": partial(replay_cpu_seconds, big),
                    "small": partial(replay_cpu_seconds, small),
                    "floor": partial(floor_cpu_seconds, big),
                },
                repeats,
            )
            # per round: (big - small) / (EVENTS - 1) events, over floor / EVENTS events
            extra = [
                (b - s) / (EVENTS - 1) * EVENTS for b, s in zip(samples["big"], samples["small"], strict=True)
            ]
            replay_us = statistics.median(extra) / EVENTS * 1e6
            floor_us = statistics.median(samples["floor"]) / EVENTS * 1e6
            results.append(
                {
                    "name": f"replay_process_ratio_{name}",
                    "value": paired_ratio(extra, samples["floor"]),
                    "unit": "x",
                    "target": "<= 3",
                    "note": (
                        f"{EVENTS} events, {big.stat().st_size / 1e6:.1f} MB file: replay {replay_us:.2f} us/event"
                        f" (CPU, 1-event run {statistics.median(samples['small']):.2f} s subtracted),"
                        f" floor {floor_us:.2f} us/event"
                    ),
                }
            )
    return results
