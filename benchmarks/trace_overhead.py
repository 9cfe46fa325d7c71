"""What the full stream adapter costs over the bare streaming interface, per chunk.

Both arms read the same 2,000-chunk OpenAI Chat body, served one chunk per SSE event (a live
server) by the same ``httpx2.MockTransport``, on one event loop:

- interface alone: an ``httpx2.AsyncClient`` streams the body into an ``OpenAIChatInterface``
  whose ``aiter_events`` hands each event to the consumer one by one, then builds the result;
- adapter: ``LLMStreamAdapter.invoke_llm`` over an ``OpenAIClient`` (the SDK builds and sends the
  request), handing each event to the consumer one by one, holding the outcome and emitting one
  ``ProviderTrace`` to a ``TraceWriter`` over a ``SQLiteSink`` (a temporary file).

Both arms deliver every event through an async iterator, as a consumer receives them, so the ratio
is what the adapter layer adds: the SDK's request building, outcome bookkeeping and the trace. A
third arm, the interface fed in a plain loop with its events dropped, is reported for reference
(``adapter_over_feed_loop_ratio``): it also counts the async delivery of ~2,000 events.

The arms alternate, so drift hits them alike; per-chunk costs are medians of the samples, ratios
the median of the ratios of samples taken side by side. The trace's
emission is timed; its writing is off the hot path by design (the writer's task and SQLite's
thread), so it is let finish after each sample, outside the timing, where it would otherwise land
in whichever arm runs next.
Target: adapter ÷ interface ≤ 1.1.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import httpx2

from streamproof.adapters.adapter import LLMStreamAdapter
from streamproof.adapters.formats.openai_chat import OpenAIChatInterface, OpenAIClient
from streamproof.adapters.llm_config import LLMConfig
from streamproof.adapters.traces.sinks.sqlite import SQLiteSink
from streamproof.adapters.traces.writer import TraceWriter
from streamproof.harness.rechunk import at_events

from . import Result
from .bodies import openai_chat_body
from .timing import paired_ratio

URL = "https://api.openai.com/v1/chat/completions"
REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Count to two thousand."}]}


def _transport(chunks: list[bytes]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        async def content() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=content())

    return httpx2.MockTransport(handler)


async def _measure(
    arms: Mapping[str, Callable[[], Awaitable[object]]], repeats: int, settle: Callable[[], Awaitable[None]]
) -> dict[str, list[float]]:
    for arm in arms.values():  # warm-up: first-call costs (SDK platform probe, imports)
        await arm()
    samples: dict[str, list[float]] = {name: [] for name in arms}
    gc.collect()
    gc.freeze()  # a full collection over the SDKs' objects costs ~80 ms (PERF-FACTS.md)
    try:
        for _ in range(repeats):
            for name, arm in arms.items():
                start = time.perf_counter()
                await arm()
                samples[name].append(time.perf_counter() - start)
                await settle()
    finally:
        gc.unfreeze()
    return samples


async def _compare(repeats: int, database: Path) -> tuple[dict[str, list[float]], int]:
    chunks = at_events(openai_chat_body())
    transport = _transport(chunks)
    http = httpx2.AsyncClient(transport=transport)
    client = OpenAIClient(api_key="sk-bench", transport=transport, max_retries=0)
    writer = TraceWriter(SQLiteSink(database))

    async def interface_alone() -> object:
        interface = OpenAIChatInterface()
        async with http.stream("POST", URL, json=REQUEST) as response:
            async for _ in interface.aiter_events(response.aiter_bytes()):
                pass
        return interface.result()

    async def feed_loop() -> object:
        interface = OpenAIChatInterface()
        async with http.stream("POST", URL, json=REQUEST) as response:
            async for chunk in response.aiter_bytes():
                interface.feed(chunk)
        interface.finish()
        return interface.result()

    async def adapter_with_traces() -> object:
        adapter = LLMStreamAdapter(client, LLMConfig(model="gpt-4o"), "agent_step", trace_writer=writer)
        async for _ in adapter.invoke_llm(REQUEST):
            pass
        return adapter.result

    async def writer_idle() -> None:
        while writer.stats.written + writer.stats.lost < writer.stats.emitted:
            await asyncio.sleep(0.0005)

    try:
        arms = {"interface": interface_alone, "adapter": adapter_with_traces, "feed_loop": feed_loop}
        samples = await _measure(arms, repeats, writer_idle)
    finally:
        await http.aclose()
        await client.aclose()
        await writer.aclose()
    if writer.stats.written != repeats + 1:
        raise RuntimeError(f"expected {repeats + 1} traces in SQLite, the writer reports {writer.stats}")
    return samples, len(chunks)


def run(quick: bool = False) -> list[Result]:
    repeats = 9 if quick else 31
    with tempfile.TemporaryDirectory() as folder:
        samples, chunks = asyncio.run(_compare(repeats, Path(folder) / "traces.db"))
    per_chunk = {name: statistics.median(values) / chunks * 1e6 for name, values in samples.items()}
    return [
        {"name": "chunk_us_interface_feed_loop", "value": per_chunk["feed_loop"], "unit": "us"},
        {"name": "chunk_us_interface_alone", "value": per_chunk["interface"], "unit": "us"},
        {"name": "chunk_us_adapter_with_sqlite_traces", "value": per_chunk["adapter"], "unit": "us"},
        {
            "name": "adapter_trace_overhead_ratio",
            "value": paired_ratio(samples["adapter"], samples["interface"]),
            "unit": "x",
            "target": "<= 1.1",
            "note": "same 2,000-chunk body per event through one httpx2.MockTransport, events delivered one by "
            "one in both arms; adapter = SDK request + outcome + SQLite trace; median of paired ratios",
        },
        {
            "name": "adapter_over_feed_loop_ratio",
            "value": paired_ratio(samples["adapter"], samples["feed_loop"]),
            "unit": "x",
            "note": "for reference: also counts handing ~2,000 events to the consumer one by one",
        },
    ]
