"""What the full stream adapter costs over the bare streaming interface, per chunk.

Both arms read the same 2,000-chunk OpenAI Chat body, served one chunk per SSE event (a live
server) by the same ``httpx2.MockTransport``, on one event loop:

- interface alone: an ``httpx2.AsyncClient`` streams the body and feeds each chunk to an
  ``OpenAIChatInterface``, then finishes and builds the result;
- adapter: ``LLMStreamAdapter.invoke_llm`` over an ``OpenAIClient`` (the SDK builds and sends the
  request), yielding every event to the consumer, holding the outcome and emitting one
  ``ProviderTrace`` to a ``TraceWriter`` over a ``SQLiteSink`` (a temporary file).

The arms alternate, so drift hits both alike; each value is the median of the samples. The writer
runs concurrently (SQLite work on its own thread) and is drained at the end, outside the timing.
Target: adapter ÷ interface ≤ 1.1.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2

from streamproof.adapters.adapter import LLMStreamAdapter
from streamproof.adapters.clients import OpenAIClient
from streamproof.adapters.llm_config import LLMConfig
from streamproof.adapters.providers.openai_chat import OpenAIChatInterface
from streamproof.adapters.traces.sinks.sqlite import SQLiteSink
from streamproof.adapters.traces.writer import TraceWriter
from streamproof.harness.rechunk import at_events

from . import Result
from .bodies import openai_chat_body

REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Count to two thousand."}]}


def _transport(chunks: list[bytes]) -> httpx2.MockTransport:
    def handler(request: httpx2.Request) -> httpx2.Response:
        async def content() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=content())

    return httpx2.MockTransport(handler)


async def _measure(arms: dict[str, Callable[[], Awaitable[object]]], repeats: int) -> dict[str, float]:
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
    finally:
        gc.unfreeze()
    return {name: statistics.median(values) for name, values in samples.items()}


async def _compare(repeats: int, database: Path) -> tuple[dict[str, float], int]:
    chunks = at_events(openai_chat_body())
    transport = _transport(chunks)
    http = httpx2.AsyncClient(transport=transport)
    client = OpenAIClient(api_key="sk-bench", transport=transport, max_retries=0)
    writer = TraceWriter(SQLiteSink(database))

    async def interface_alone() -> object:
        interface = OpenAIChatInterface()
        async with http.stream(
            "POST", "https://api.openai.com/v1/chat/completions", json=REQUEST
        ) as response:
            async for chunk in response.aiter_bytes():
                interface.feed(chunk)
        interface.finish()
        return interface.result()

    async def adapter_with_traces() -> object:
        adapter = LLMStreamAdapter(client, LLMConfig(model="gpt-4o"), "agent_step", trace_writer=writer)
        async for _ in adapter.invoke_llm(REQUEST):
            pass
        return adapter.result

    try:
        medians = await _measure({"interface": interface_alone, "adapter": adapter_with_traces}, repeats)
    finally:
        await http.aclose()
        await client.aclose()
        await writer.aclose()
    if writer.stats.written != repeats + 1:
        raise RuntimeError(f"expected {repeats + 1} traces in SQLite, the writer reports {writer.stats}")
    return medians, len(chunks)


def run(quick: bool = False) -> list[Result]:
    repeats = 7 if quick else 21
    with tempfile.TemporaryDirectory() as folder:
        medians, chunks = asyncio.run(_compare(repeats, Path(folder) / "traces.db"))
    return [
        {"name": "chunk_us_interface_alone", "value": medians["interface"] / chunks * 1e6, "unit": "us"},
        {
            "name": "chunk_us_adapter_with_sqlite_traces",
            "value": medians["adapter"] / chunks * 1e6,
            "unit": "us",
        },
        {
            "name": "adapter_trace_overhead_ratio",
            "value": medians["adapter"] / medians["interface"],
            "unit": "x",
            "target": "<= 1.1",
            "note": "same 2,000-chunk body per event through one httpx2.MockTransport; adapter = SDK request + events + SQLite trace",
        },
    ]
