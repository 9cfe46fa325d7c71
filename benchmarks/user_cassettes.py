"""Per-test cost of a user's cassette test under the streamproof plugin and under vcrpy 9.4.

One "test" is what a pytest-recording user's test costs: enter the cassette (load the file), build
the OpenAI SDK client the way the test builds it (no ``http_client=``: through the plugin's
interception, or vcrpy's patching), stream one chat completion and consume every chunk, leave the
cassette (the plugin also checks for a stale tail). Both arms replay the same recorded stream:
ours from a streamproof cassette (one chunk per event, as recorded), vcrpy's from the file vcrpy's
own serializer writes. Paired, interleaved rounds (benchmarks/timing.py).

- ``replay_vs_vcrpy_small`` (20 events, target <= 0.5) and ``replay_vs_vcrpy_large`` (2,000
  events, target <= 1.0): plugin time / vcrpy time; the notes give the chunks each delivered.
- ``replay_ttfc_vs_vcrpy``: from the SDK call to its first event, 2,000-event Anthropic stream,
  cassette already loaded (target <= 1.0).
- ``load_vcrpy_written_vs_vcrpy``: ``load_cassette`` of a 1 MB and a 10 MB cassette written by
  vcrpy (bodies as multi-line quoted scalars) / vcrpy's own ``FilesystemPersister`` load (target <= 1.0).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import anthropic
import openai
import vcr
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from streamproof.conformance.cassette_plugin import activated, open_cassette
from streamproof.harness.cassette import (
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
from .bodies import anthropic_messages_body, openai_chat_body
from .timing import paired_ratio, paired_seconds, paired_values

KEY = "sk-bench-not-a-key"
CHAT_URL = "https://api.openai.com/v1/chat/completions"
MESSAGES_URL = "https://api.anthropic.com/v1/messages"
CHAT_REQUEST = b'{"messages":[{"role":"user","content":"bench"}],"model":"gpt-4o-mini","stream":true}'
MESSAGES_REQUEST = b'{"max_tokens":1024,"messages":[{"role":"user","content":"bench"}],"model":"claude-sonnet-4-5","stream":true}'


def write_pair(folder: Path, name: str, url: str, request: bytes, body: bytes) -> tuple[Path, Path]:
    """The same interaction as a streamproof cassette (a chunk per event) and as vcrpy writes it."""
    chunks, end = [], 0
    for i, event in enumerate(at_events(body)):
        end += len(event)
        chunks.append((end, 0.2 + i * 0.01))
    headers = {"content-type": ["text/event-stream; charset=utf-8"]}
    ours = folder / f"{name}.yaml"
    interaction = Interaction(
        0,
        RecordedRequest("POST", url, Headers({"content-type": ["application/json"]}), request),
        RecordedResponse(200, "OK", Headers(headers), body, chunks),
    )
    save_cassette(ours, Cassette(ours, [interaction], new_metadata(source="emulator")))
    theirs = folder / f"{name}.vcrpy.yaml"
    vcrpy_dict = {
        "interactions": [
            {
                "request": {
                    "body": request.decode(),
                    "headers": {"content-type": ["application/json"]},
                    "method": "POST",
                    "uri": url,
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": headers,
                    "body": {"string": body.decode()},
                },
            }
        ],
        "version": 1,
    }
    theirs.write_text(yamlserializer.serialize(vcrpy_dict))
    return ours, theirs


def _chat(client: openai.OpenAI) -> int:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "bench"}], stream=True
    )
    return sum(1 for _ in stream)


def plugin_test(path: Path) -> int:
    with activated(open_cassette(path, "none", {}), block=True, hosts=[]) as active:
        events = _chat(openai.OpenAI(api_key=KEY, max_retries=0))
    assert active.stale_message() is None
    return events


def vcrpy_test(path: Path) -> int:
    with vcr.use_cassette(str(path), record_mode="none"):
        return _chat(openai.OpenAI(api_key=KEY, max_retries=0))


def delivered_chunks(arm: Callable[[Any], Any], path: Path) -> int:
    """The network chunks the SDK's HTTP response yielded under ``arm``'s cassette."""
    if arm is plugin_test:
        context: Any = activated(open_cassette(path, "none", {}), block=True, hosts=[])
    else:
        context = vcr.use_cassette(str(path), record_mode="none")
    with context:
        client = openai.OpenAI(api_key=KEY, max_retries=0)
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "bench"}], stream=True
        ) as response:
            return sum(1 for _ in response.iter_bytes())


def _first_event_seconds(client: anthropic.Anthropic) -> float:
    started = time.perf_counter()
    stream = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        messages=[{"role": "user", "content": "bench"}],
        stream=True,
    )
    next(iter(stream))
    first = time.perf_counter() - started
    stream.close()
    return first


def ttfc(path: Path, plugin: bool) -> Callable[[], float]:
    """A function measuring one time to first event, inside an already-entered cassette."""

    def measure() -> float:
        if plugin:
            context: Any = activated(open_cassette(path, "none", {"stale": "ignore"}), block=True, hosts=[])
        else:
            context = vcr.use_cassette(str(path), record_mode="none", allow_playback_repeats=True)
        with context:
            return _first_event_seconds(anthropic.Anthropic(api_key=KEY, max_retries=0))

    return measure


def _vcrpy_load(path: Path) -> Any:
    return FilesystemPersister.load_cassette(str(path), yamlserializer)


def run(quick: bool = False) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for label, deltas, repeats, target in (
            ("small", 16, 15 if quick else 41, "<= 0.5"),
            ("large", 1996, 5 if quick else 15, "<= 1.0"),
        ):
            ours, theirs = write_pair(
                folder, f"chat_{label}", CHAT_URL, CHAT_REQUEST, openai_chat_body(deltas)
            )
            assert plugin_test(ours) == vcrpy_test(theirs)
            samples = paired_seconds(
                {"plugin": partial(plugin_test, ours), "vcrpy": partial(vcrpy_test, theirs)}, repeats
            )
            events = len(at_events(openai_chat_body(deltas)))
            results.append(
                {
                    "name": f"replay_vs_vcrpy_{label}",
                    "value": paired_ratio(samples["plugin"], samples["vcrpy"]),
                    "unit": "x",
                    "target": target,
                    "note": (
                        f"{events} events; chunks delivered: plugin {delivered_chunks(plugin_test, ours)}, "
                        f"vcrpy {delivered_chunks(vcrpy_test, theirs)}; per test "
                        f"{statistics.median(samples['plugin']) * 1000:.1f} ms vs "
                        f"{statistics.median(samples['vcrpy']) * 1000:.1f} ms"
                    ),
                }
            )
        ours, theirs = write_pair(
            folder, "messages", MESSAGES_URL, MESSAGES_REQUEST, anthropic_messages_body(1994)
        )
        rounds = paired_values({"plugin": ttfc(ours, True), "vcrpy": ttfc(theirs, False)}, 7 if quick else 21)
        results.append(
            {
                "name": "replay_ttfc_vs_vcrpy",
                "value": paired_ratio(rounds["plugin"], rounds["vcrpy"]),
                "unit": "x",
                "target": "<= 1.0",
                "note": f"2,000-event Anthropic stream; first event {statistics.median(rounds['plugin']) * 1000:.2f} ms vs {statistics.median(rounds['vcrpy']) * 1000:.2f} ms",
            }
        )
        for label, deltas, repeats in (("1mb", 3450, 5 if quick else 15), ("10mb", 34500, 3 if quick else 7)):
            _, theirs = write_pair(folder, f"load_{label}", CHAT_URL, CHAT_REQUEST, openai_chat_body(deltas))
            assert load_cassette(theirs).interactions[0].response.body == openai_chat_body(deltas)
            samples = paired_seconds(
                {"ours": partial(load_cassette, theirs), "vcrpy": partial(_vcrpy_load, theirs)}, repeats
            )
            results.append(
                {
                    "name": f"load_vcrpy_written_vs_vcrpy_{label}",
                    "value": paired_ratio(samples["ours"], samples["vcrpy"]),
                    "unit": "x",
                    "target": "<= 1.0",
                    "note": f"{theirs.stat().st_size / 1e6:.1f} MB file written by vcrpy's serializer",
                }
            )
    return results
