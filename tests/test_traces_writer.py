"""TraceWriter: every emitted trace written or counted, bad sinks isolated and bounded, no task left."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from streamproof.adapters.billing import BillingContext
from streamproof.adapters.events import Usage
from streamproof.adapters.traces import ProviderTrace, TraceContext, TraceWriter, WriterStats
from streamproof.adapters.traces.sinks.base import TraceSink
from streamproof.adapters.traces.sinks.memory import MemorySink


def make_trace(number: int) -> ProviderTrace:
    return ProviderTrace(
        run_id=f"run-{number}",
        model="gpt-test",
        usage=Usage(prompt_tokens=number, completion_tokens=1, total_tokens=number + 1),
        latency_ms=1.0,
    )


def only_this_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


class RaisingSink:
    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[tuple[str, ...]] = []  # the run ids of each call
        self.closed = False

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        self.calls += 1
        self.batches.append(tuple(t.run_id or "" for t in traces))
        raise OSError("disk full")

    async def aclose(self) -> None:
        self.closed = True


class HangingSink:
    """Never finishes a write (nor a close)."""

    def __init__(self) -> None:
        self.calls = 0

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        self.calls += 1
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        await asyncio.Event().wait()


class RefusingSink(MemorySink):
    """Stores a batch whole or not at all, as a database transaction does; refuses any batch that
    holds one of the ``refused`` runs' traces."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused
        self.calls = 0

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        self.calls += 1
        bad = [t.run_id for t in traces if t.run_id in self.refused]
        if bad:
            raise ValueError(f"cannot store the trace of {bad[0]}")
        await super().write_batch(traces)


class FailsFirstBatchSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.failed_once = False

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        if not self.failed_once:
            self.failed_once = True
            raise RuntimeError("transient")
        await super().write_batch(traces)


def test_sinks_satisfy_the_protocol() -> None:
    for sink in (MemorySink(), RaisingSink(), HangingSink()):
        assert isinstance(sink, TraceSink)


async def test_thousand_concurrent_emits_give_exactly_thousand_written() -> None:
    sink = MemorySink()
    writer = TraceWriter(sink, batch_size=64)

    async def call(number: int) -> None:
        await asyncio.sleep(0)  # interleave the callers with the writer task
        writer.emit(make_trace(number))

    await asyncio.gather(*(call(n) for n in range(1000)))
    await writer.aclose()

    assert writer.stats == WriterStats(emitted=1000, written=1000)
    assert sorted(t.run_id or "" for t in sink.traces) == sorted(f"run-{n}" for n in range(1000))
    assert len({t.id for t in sink.traces}) == 1000
    assert max(sink.batch_sizes) <= 64 and len(sink.batch_sizes) < 1000  # batched, within the bound
    assert sink.closed
    assert only_this_task_left()


async def test_traces_still_queued_at_close_are_drained() -> None:
    sink = MemorySink()
    writer = TraceWriter(sink)
    for number in range(300):
        writer.emit(make_trace(number))  # no await in between: all still queued
    assert sink.traces == []
    await writer.aclose()
    assert len(sink.traces) == 300 and writer.stats.written == 300


async def test_a_raising_sink_is_counted_and_never_felt_by_the_caller() -> None:
    sink = RaisingSink()
    writer = TraceWriter(sink, batch_size=100, retries=2, retry_backoff_s=0.001)
    for number in range(1000):
        writer.emit(make_trace(number))
        if number % 100 == 0:
            await asyncio.sleep(0)
    await writer.aclose()
    stats = writer.stats
    assert stats.emitted == 1000 and stats.written == 0
    assert stats.failed == 1000 and stats.lost == 1000
    tries = Counter(sink.batches)
    whole = [batch for batch, count in tries.items() if count == 3]  # each tried 1 + retries times
    assert sorted(run for batch in whole for run in batch) == sorted(f"run-{n}" for n in range(1000))
    assert all(count == 1 for batch, count in tries.items() if batch not in whole)  # its parts: once
    assert {batch[0] for batch in tries if len(batch) == 1} == {f"run-{n}" for n in range(1000)}  # all alone
    assert sink.closed
    assert only_this_task_left()


async def test_a_sink_that_recovers_on_retry_loses_nothing() -> None:
    sink = FailsFirstBatchSink()
    writer = TraceWriter(sink, batch_size=10, retries=1, retry_backoff_s=0.001)
    for number in range(30):
        writer.emit(make_trace(number))
    await writer.aclose()
    assert sink.failed_once
    assert writer.stats == WriterStats(emitted=30, written=30)
    assert sorted(t.run_id or "" for t in sink.traces) == sorted(f"run-{n}" for n in range(30))


async def test_one_failed_batch_does_not_stop_the_next() -> None:
    sink = RefusingSink({f"run-{n}" for n in range(10)})
    writer = TraceWriter(sink, batch_size=10, retries=0)
    for number in range(10):
        writer.emit(make_trace(number))
    await asyncio.sleep(0.01)
    for number in range(10, 30):
        writer.emit(make_trace(number))
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=30, written=20, failed=10)
    assert len(sink.traces) == 20


async def test_a_trace_the_sink_refuses_costs_only_itself_not_its_batch() -> None:
    # A failed batch is retried in halves until each refused trace stands alone: 10 bad traces
    # among 1,000 cost those 10 (before, each cost its whole batch of up to 256).
    poisoned = {f"run-{n}" for n in range(5, 1000, 100)}
    sink = RefusingSink(poisoned)
    writer = TraceWriter(sink, batch_size=256, retries=1, retry_backoff_s=0.001)
    for number in range(1000):
        writer.emit(make_trace(number))
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=1000, written=990, failed=10)
    assert sorted(t.run_id or "" for t in sink.traces) == sorted(
        f"run-{n}" for n in range(1000) if f"run-{n}" not in poisoned
    )
    assert sink.calls < 300  # halving, not one call per trace of a failed batch
    assert only_this_task_left()


async def test_a_split_cut_short_by_close_counts_each_trace_once() -> None:
    # The close timeout ends a batch's split half way: what was written or refused stays counted
    # as such, only the rest is dropped.
    class SlowRefusingSink(RefusingSink):
        async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
            await asyncio.sleep(0.02)
            await super().write_batch(traces)

    sink = SlowRefusingSink({f"run-{n}" for n in range(0, 64, 3)})
    writer = TraceWriter(sink, batch_size=64, retries=0, close_timeout_s=0.6)
    for number in range(64):
        writer.emit(make_trace(number))
    await writer.aclose()
    stats = writer.stats
    assert stats.emitted == 64 and stats.written + stats.failed + stats.dropped == 64
    assert stats.written == len(sink.traces) > 0 and stats.failed > 0 and stats.dropped > 0
    assert only_this_task_left()


async def test_a_hanging_sink_blocks_neither_emit_nor_close_beyond_the_bound() -> None:
    sink = HangingSink()
    writer = TraceWriter(sink, batch_size=256, sink_timeout_s=0.05, close_timeout_s=0.5)

    started = time.perf_counter()
    for number in range(1000):
        writer.emit(make_trace(number))
    emit_seconds = time.perf_counter() - started
    await asyncio.sleep(0.08)  # the writer is now stuck in the first batch
    writer.emit(make_trace(1000))

    started = time.perf_counter()
    await writer.aclose()
    close_seconds = time.perf_counter() - started

    stats = writer.stats
    assert emit_seconds < 0.5
    # close waits at most close_timeout_s for the drain, plus the bounded sink close and cancel graces
    assert close_seconds < 0.5 + 0.05 + 2.0
    assert stats.emitted == 1001 and stats.written == 0
    assert stats.timed_out >= 256 and stats.timed_out + stats.dropped == 1001
    assert sink.calls >= 1
    assert only_this_task_left()


async def test_slow_sink_within_drain_bound_loses_nothing() -> None:
    class SlowSink(MemorySink):
        async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
            await asyncio.sleep(0.02)
            await super().write_batch(traces)

    sink = SlowSink()
    writer = TraceWriter(sink, batch_size=50, sink_timeout_s=1.0)
    for number in range(500):
        writer.emit(make_trace(number))
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=500, written=500)


async def test_full_queue_drops_are_counted() -> None:
    sink = MemorySink()
    writer = TraceWriter(sink, max_queue=10)
    for number in range(25):
        writer.emit(make_trace(number))  # the writer task has not run yet: 10 fit
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=10, written=10, dropped=15)


async def test_emit_after_close_is_dropped_not_raised() -> None:
    writer = TraceWriter(MemorySink())
    writer.emit(make_trace(1))
    await writer.aclose()
    writer.emit(make_trace(2))
    await writer.aclose()  # idempotent
    assert writer.stats == WriterStats(emitted=1, written=1, dropped=1)


def test_emit_without_a_loop_is_counted_not_raised() -> None:
    writer = TraceWriter(MemorySink())
    writer.emit(make_trace(1))
    writer.close()
    assert writer.stats == WriterStats(dropped=1)


def test_sync_callers_use_a_background_thread_writer() -> None:
    sink = MemorySink()
    writer = TraceWriter.in_thread(sink, batch_size=32)

    def producer(offset: int) -> None:
        for number in range(offset, offset + 250):
            writer.emit(make_trace(number))

    threads = [threading.Thread(target=producer, args=(offset,)) for offset in range(0, 1000, 250)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()

    assert writer.stats == WriterStats(emitted=1000, written=1000)
    assert len({t.run_id for t in sink.traces}) == 1000
    assert sink.closed
    assert not any(t.name == "streamproof-trace-writer" for t in threading.enumerate())


async def test_async_context_manager_drains_on_exit() -> None:
    sink = MemorySink()
    async with TraceWriter(sink) as writer:
        writer.emit(make_trace(1))
        writer.emit(make_trace(2))
    assert len(sink.traces) == 2 and sink.closed
    assert only_this_task_left()


async def test_emit_from_other_threads_into_a_loop_bound_writer() -> None:
    sink = MemorySink()
    writer = TraceWriter(sink)
    await writer.start()
    await asyncio.gather(*(asyncio.to_thread(writer.emit, make_trace(n)) for n in range(50)))
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=50, written=50)


def test_bad_writer_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_queue and batch_size"):
        TraceWriter(MemorySink(), max_queue=0)
    with pytest.raises(ValueError, match="must be positive"):
        TraceWriter(MemorySink(), sink_timeout_s=0)
    with pytest.raises(ValueError, match="must not be negative"):
        TraceWriter(MemorySink(), retries=-1)


def test_trace_context_is_copied_into_the_trace() -> None:
    billing = BillingContext(plan_type="pro", cost_source="credits", customer_id="cus_1")
    context = TraceContext(agent_id="agent-1", run_id="run-1", agent_tags=("a", "b"), billing=billing)
    trace = ProviderTrace.from_context(context, model="m", status="cancelled")
    assert trace.agent_id == "agent-1" and trace.agent_tags == ("a", "b") and trace.billing == billing
    assert trace.status == "cancelled" and trace.error_type is None


def test_trace_outcome_must_be_consistent() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs error_type"):
        ProviderTrace(status="error")
    with pytest.raises(ValidationError, match="cannot carry error_type"):
        ProviderTrace(status="success", error_type="LLMServerError")
    with pytest.raises(ValidationError, match="must not be negative"):
        ProviderTrace(latency_ms=-1)


async def test_close_timeout_bounds_the_drain_and_counts_what_was_left() -> None:
    class WriteHangsCloseWorks(HangingSink):
        async def aclose(self) -> None:
            pass

    sink = WriteHangsCloseWorks()
    writer = TraceWriter(sink, batch_size=10, sink_timeout_s=30.0, close_timeout_s=0.2)
    for number in range(100):
        writer.emit(make_trace(number))
    started = time.perf_counter()
    await writer.aclose()
    close_seconds = time.perf_counter() - started
    assert close_seconds < 0.2 + 1.5
    # the batch in flight and the 90 still queued: nothing written, every trace accounted for
    assert writer.stats == WriterStats(emitted=100, dropped=100)
    assert only_this_task_left()


async def test_a_sink_ignoring_cancellation_is_abandoned_after_the_grace() -> None:
    release = asyncio.Event()

    class StubbornSink(MemorySink):
        async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
            while not release.is_set():
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue  # a badly behaved sink
            await super().write_batch(traces)

    sink = StubbornSink()
    writer = TraceWriter(sink, sink_timeout_s=0.05, close_timeout_s=5.0)
    writer.emit(make_trace(1))
    started = time.perf_counter()
    await writer.aclose()
    assert time.perf_counter() - started < 0.05 + 1.0 + 0.5
    assert writer.stats == WriterStats(emitted=1, timed_out=1)
    release.set()  # let the abandoned call finish so the test leaves nothing behind
    await asyncio.sleep(0.01)
    assert only_this_task_left()


def test_cross_thread_emits_respect_the_queue_bound() -> None:
    class GatedSink(MemorySink):
        """Holds the first batch until the test opens the gate."""

        def __init__(self) -> None:
            super().__init__()
            self.gate = threading.Event()

        async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
            while not self.gate.is_set():
                await asyncio.sleep(0.005)
            await super().write_batch(traces)

    sink = GatedSink()
    writer = TraceWriter.in_thread(sink, max_queue=10, batch_size=5)
    for number in range(200):
        writer.emit(make_trace(number))
    held = writer.stats
    sink.gate.set()
    writer.close()

    # at most max_queue queued (counting those in transit) plus the one batch held by the sink
    assert held.emitted <= 10 + 5 and held.dropped >= 200 - 15
    stats = writer.stats
    assert stats.written == stats.emitted == len(sink.traces)
    assert stats.emitted + stats.dropped == 200


def test_a_writer_whose_loop_ended_without_close_still_closes_and_counts() -> None:
    sink = MemorySink()
    writer = TraceWriter(sink)

    async def forget_to_close() -> None:
        for number in range(5):
            writer.emit(make_trace(number))

    asyncio.run(forget_to_close())  # the loop ends: its writer task is cancelled mid-way

    async def close_elsewhere() -> None:
        await asyncio.wait_for(writer.aclose(), timeout=2.0)

    asyncio.run(close_elsewhere())
    stats = writer.stats
    assert sink.closed
    assert stats.emitted == 5 and stats.written + stats.lost == 5


async def test_a_sink_with_broken_methods_is_counted_not_raised() -> None:
    class NotAsyncSink:
        def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
            raise TypeError("write_batch is not a coroutine")

        def aclose(self) -> None:
            raise TypeError("aclose is not a coroutine")

    writer = TraceWriter(NotAsyncSink(), retries=0)  # type: ignore[arg-type]
    writer.emit(make_trace(1))
    await writer.aclose()
    assert writer.stats == WriterStats(emitted=1, failed=1)
    assert only_this_task_left()
