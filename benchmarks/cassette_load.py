"""Cassette load throughput: ``load_cassette`` on 1 MB and 10 MB OpenAI SSE cassettes.

The cassettes are written by ``save_cassette`` (scrubbed, one recorded chunk per event with its
time), so the measurement includes what our format adds to vcrpy's: the ``streamproof_chunks``
of every response. MB/s = body megabytes (10^6 bytes) per second of load. Target: >= 200 MB/s,
which needs PyYAML built with libyaml; without it loading is ~100x slower, and this benchmark
says so on stderr. ``cassette_load_vs_yaml_*`` is the same load divided by a bare ``yaml.load``
of the same file, from paired rounds of the same run: below 1 where ``harness.fast_yaml`` lifts
the body out of libyaml's way by more than our checks add.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from functools import partial
from pathlib import Path

import yaml

from streamproof.harness.cassette import (
    HAVE_LIBYAML,
    YAML_LOADER,
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    new_metadata,
    save_cassette,
)
from streamproof.harness.rechunk import at_events

from . import Result
from .bodies import openai_chat_body
from .timing import paired_ratio, paired_seconds

_BYTES_PER_DELTA = 290  # one OpenAI content chunk, SSE framing included


def sse_cassette(path: Path, megabytes: float) -> int:
    """Write a ``megabytes`` OpenAI Chat SSE cassette to ``path``; returns its body size."""
    body = openai_chat_body(deltas=int(megabytes * 1_000_000 / _BYTES_PER_DELTA))
    chunks, end = [], 0
    for i, event in enumerate(at_events(body)):
        end += len(event)
        chunks.append((end, 0.25 + i * 0.012))
    request = RecordedRequest(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        Headers({"content-type": ["application/json"]}),
        b'{"model":"gpt-4o-2024-08-06","stream":true,"messages":[{"role":"user","content":"bench"}]}',
    )
    response = RecordedResponse(200, "OK", Headers({"content-type": ["text/event-stream"]}), body, chunks)
    metadata = new_metadata(source="emulator", provider="openai", api="chat", scenario="bench")
    save_cassette(path, Cassette(path, [Interaction(0, request, response)], metadata))
    return len(body)


def _bare_yaml_load(path: Path) -> object:
    return yaml.load(path.read_bytes(), Loader=YAML_LOADER)


def libyaml_check(have_libyaml: bool) -> Result:
    """The ``yaml_has_libyaml`` result, warning on stderr when it is 0."""
    if not have_libyaml:
        print(
            "warning: PyYAML lacks libyaml; cassettes load ~100x slower (install a PyYAML wheel with libyaml)",
            file=sys.stderr,
        )
    return {
        "name": "yaml_has_libyaml",
        "value": 1.0 if have_libyaml else 0.0,
        "unit": "bool",
        "target": "== 1",
    }


def run(quick: bool = False) -> list[Result]:
    results = [libyaml_check(HAVE_LIBYAML)]
    with tempfile.TemporaryDirectory() as directory:
        for label, megabytes, repeats in (
            ("1mb", 1.0, 5 if quick else 15),
            ("10mb", 10.0, 3 if quick else 7),
        ):
            path = Path(directory) / f"{label}.yaml"
            size = sse_cassette(path, megabytes)
            samples = paired_seconds(
                {"load": partial(load_cassette, path), "yaml": partial(_bare_yaml_load, path)}, repeats
            )
            seconds = statistics.median(samples["load"])
            results.append(
                {
                    "name": f"cassette_load_mb_per_s_{label}",
                    "value": size / 1_000_000 / seconds,
                    "unit": "MB/s",
                    "target": ">= 200",
                    "note": f"{size / 1_000_000:.1f} MB body, {path.stat().st_size / 1_000_000:.1f} MB file",
                }
            )
            results.append(
                {
                    "name": f"cassette_load_vs_yaml_{label}",
                    "value": paired_ratio(samples["load"], samples["yaml"]),
                    "unit": "x",
                }
            )
    return results
