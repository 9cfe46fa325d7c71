"""``TraceWriter``: takes traces off the hot path and writes them to a sink in batches.

One writer task reads a bounded queue and hands batches to the sink. The stream side only calls
``emit(trace)``, which never blocks and never raises, from any thread. What happens to every trace is
counted in ``stats`` (a ``WriterStats`` snapshot):

- ``emitted``    accepted into the queue;
- ``written``    stored by the sink;
- ``failed``     not stored because ``write_batch`` raised on every try (``retries`` more tries, after
                 ``retry_backoff_s``, 2 × ``retry_backoff_s``, ...: a sink that recovers loses nothing),
                 and then again for the trace on its own: a batch that fails every try is split in
                 halves, each written once, until the traces the sink refuses stand alone, so one bad
                 trace (a value its database rejects) costs only itself, never its batch;
- ``timed_out``  in a batch whose ``write_batch`` took longer than ``sink_timeout_s`` (then cancelled);
- ``dropped``    never stored for another reason: queue full (``max_queue``), emitted after close began
                 or with no event loop to write on, or still queued when ``close_timeout_s`` ran out.

A sink that hangs costs at most ``sink_timeout_s`` per batch (one that raises: ``retries`` + 1 tries,
then at most 2n − 2 calls for the halves of a batch of n), on the writer task only; the caller never
feels it. ``aclose()`` stops accepting, drains everything already queued (bounded by
``close_timeout_s``), then closes the sink (bounded by ``sink_timeout_s``);
afterwards no task of the writer is left running. (A sink call that swallows its cancellation is
abandoned after a short grace period; only it can outlive ``aclose()``.)

Async code::

    writer = TraceWriter(SQLiteSink("traces.db"))   # starts on the running loop at the first emit
    writer.emit(trace)                              # or: async with TraceWriter(sink) as writer: ...
    await writer.aclose()

Sync code (e.g. a synchronous request adapter) runs the writer on its own loop in a background thread;
``emit`` is thread-safe (it hands the trace over with ``loop.call_soon_threadsafe``)::

    writer = TraceWriter.in_thread(SQLiteSink("traces.db"))
    writer.emit(trace)        # from any thread
    writer.close()            # drains, closes the sink, stops and joins the thread

``emit`` from a thread other than the writer's loop is always safe, so one writer can serve both
sync and async callers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal

from .model import ProviderTrace
from .sinks.base import TraceSink

logger = logging.getLogger(__name__)

# how long a cancelled sink call may take to unwind before the writer stops waiting for it
_CANCEL_GRACE_S: Final = 0.5


class _Stop:
    """Queued once by close: everything before it is drained, nothing after it is accepted."""


_STOP: Final = _Stop()

_Outcome = Literal["written", "failed", "timed_out"]


@dataclass(frozen=True)
class WriterStats:
    emitted: int = 0
    written: int = 0
    failed: int = 0
    timed_out: int = 0
    dropped: int = 0

    @property
    def lost(self) -> int:
        return self.failed + self.timed_out + self.dropped


class TraceWriter:
    def __init__(
        self,
        sink: TraceSink,
        *,
        max_queue: int = 10_000,
        batch_size: int = 256,
        sink_timeout_s: float = 5.0,
        close_timeout_s: float = 30.0,
        retries: int = 1,
        retry_backoff_s: float = 0.05,
    ) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be at least 1")
        if sink_timeout_s <= 0 or close_timeout_s <= 0:
            raise ValueError("sink_timeout_s and close_timeout_s must be positive")
        if retries < 0 or retry_backoff_s < 0:
            raise ValueError("retries and retry_backoff_s must not be negative")
        self.sink = sink
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._sink_timeout_s = sink_timeout_s
        self._close_timeout_s = close_timeout_s
        self._retries = retries
        self._retry_backoff_s = retry_backoff_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[ProviderTrace | _Stop] | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._accepting = True
        self._closed = False
        self._start_lock = threading.Lock()
        self._drop_lock = threading.Lock()
        self._handover_lock = threading.Lock()
        self._in_transit = 0
        self._emitted = 0
        self._written = 0
        self._failed = 0
        self._timed_out = 0
        self._dropped = 0

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            emitted=self._emitted,
            written=self._written,
            failed=self._failed,
            timed_out=self._timed_out,
            dropped=self._dropped,
        )

    # -- starting ---------------------------------------------------------------------------------

    @classmethod
    def in_thread(
        cls,
        sink: TraceSink,
        *,
        max_queue: int = 10_000,
        batch_size: int = 256,
        sink_timeout_s: float = 5.0,
        close_timeout_s: float = 30.0,
        retries: int = 1,
        retry_backoff_s: float = 0.05,
    ) -> TraceWriter:
        """A writer running on its own event loop in a background thread; close it with ``close()``."""
        writer = cls(
            sink,
            max_queue=max_queue,
            batch_size=batch_size,
            sink_timeout_s=sink_timeout_s,
            close_timeout_s=close_timeout_s,
            retries=retries,
            retry_backoff_s=retry_backoff_s,
        )
        loop = asyncio.new_event_loop()
        writer._start_on(loop)
        writer._thread = threading.Thread(target=_run_loop, args=(loop,), name="streamproof-trace-writer")
        writer._thread.start()
        return writer

    async def start(self) -> None:
        """Start on the running loop now (``emit`` otherwise starts the writer on first use)."""
        self._start_on(asyncio.get_running_loop())

    async def __aenter__(self) -> TraceWriter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _start_on(self, loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                self._queue = asyncio.Queue()
                self._task = loop.create_task(self._run(self._queue), name="streamproof-trace-writer")
                self._loop = loop
            return self._loop

    # -- emitting ---------------------------------------------------------------------------------

    def emit(self, trace: ProviderTrace) -> None:
        """Queue ``trace`` for writing. Never blocks, never raises; a trace that cannot be queued is
        counted in ``stats.dropped``."""
        try:
            if not self._accepting:
                self._drop(1, "the writer is closing")
                return
            running = _running_loop()
            loop = self._loop
            if loop is None:
                if running is None:
                    self._drop(1, "no event loop is running; use TraceWriter.in_thread() from sync code")
                    return
                loop = self._start_on(running)
            if running is loop:
                self._enqueue(trace)
            else:
                self._hand_over(loop, trace)
        except Exception:  # emit must never break the caller's stream
            logger.exception("trace writer could not queue a trace")
            self._drop(1, "queueing failed")

    def _hand_over(self, loop: asyncio.AbstractEventLoop, trace: ProviderTrace) -> None:
        # traces in transit to the loop count against max_queue too, so a flood from other threads
        # cannot grow the loop's callback queue without bound
        queue = self._queue
        with self._handover_lock:
            if queue is not None and self._in_transit + queue.qsize() >= self._max_queue:
                full = True
            else:
                full = False
                self._in_transit += 1
        if full:
            self._drop(1, f"the queue is full ({self._max_queue})")
            return
        try:
            loop.call_soon_threadsafe(self._arrive, trace)
        except RuntimeError:  # the writer's loop is closed
            with self._handover_lock:
                self._in_transit -= 1
            self._drop(1, "the writer's event loop is closed")

    def _arrive(self, trace: ProviderTrace) -> None:
        with self._handover_lock:
            self._in_transit -= 1
        self._enqueue(trace)

    def _enqueue(self, trace: ProviderTrace) -> None:
        queue = self._queue
        if queue is None or not self._accepting:
            self._drop(1, "the writer is closing")
        elif queue.qsize() >= self._max_queue:
            self._drop(1, f"the queue is full ({self._max_queue})")
        else:
            queue.put_nowait(trace)
            self._emitted += 1

    def _drop(self, count: int, reason: str) -> None:
        with self._drop_lock:
            before = self._dropped
            self._dropped += count
        # an overflow drops many traces in a row: log the first and then once per thousand
        if before == 0 or before // 1000 != self._dropped // 1000:
            logger.warning("dropped %d trace(s) so far; latest: %s", self._dropped, reason)

    # -- writing ----------------------------------------------------------------------------------

    async def _run(self, queue: asyncio.Queue[ProviderTrace | _Stop]) -> None:
        while True:
            item = await queue.get()
            batch: list[ProviderTrace] = []
            while not isinstance(item, _Stop):
                batch.append(item)
                if len(batch) >= self._batch_size or queue.empty():
                    break
                item = queue.get_nowait()
            if batch:
                await self._write(batch)
            if isinstance(item, _Stop):
                return

    async def _write(self, batch: Sequence[ProviderTrace]) -> None:
        counted = 0  # traces of this batch already counted, so a cancellation drops only the rest
        try:
            outcome: _Outcome = "failed"
            for attempt in range(self._retries + 1):
                if attempt:
                    await asyncio.sleep(self._retry_backoff_s * attempt)
                outcome = await self._attempt(batch)
                if outcome != "failed":
                    break
            if outcome != "failed" or len(batch) == 1:
                self._count(outcome, batch)
                return
            # Refused on every try: most likely for one trace the sink cannot store. Halve the
            # batch until each refused trace stands alone; the others are written in as few calls
            # as that takes. One try per part: the whole batch's retries covered a passing hiccup.
            refused: list[str] = []
            parts = [batch[len(batch) // 2 :], batch[: len(batch) // 2]]
            while parts:
                part = parts.pop()
                outcome = await self._attempt(part, quiet=True)
                if outcome == "failed" and len(part) > 1:
                    parts += [part[len(part) // 2 :], part[: len(part) // 2]]
                    continue
                self._count(outcome, part)
                counted += len(part)
                if outcome == "failed":
                    refused.append(part[0].id)
            if refused:
                logger.warning(
                    "trace sink refused %d trace(s) of a failed batch of %d even on their own: %s",
                    len(refused),
                    len(batch),
                    ", ".join(refused[:5]) + (", ..." if len(refused) > 5 else ""),
                )
        except asyncio.CancelledError:  # close ran out of time, or the loop is shutting down
            self._drop(
                len(batch) - counted, "the writer was cancelled (close timeout or loop shutdown) mid-batch"
            )
            raise

    def _count(self, outcome: _Outcome, traces: Sequence[ProviderTrace]) -> None:
        if outcome == "written":
            self._written += len(traces)
        elif outcome == "timed_out":
            self._timed_out += len(traces)
        else:
            self._failed += len(traces)

    async def _attempt(self, batch: Sequence[ProviderTrace], *, quiet: bool = False) -> _Outcome:
        """One ``write_batch`` call, bounded; ``quiet`` logs its failure at debug level only (a part
        of a split batch: the split ends with one warning)."""
        try:
            call = asyncio.ensure_future(self.sink.write_batch(batch))
        except Exception:  # a sink whose write_batch is not awaitable, or raises before awaiting
            logger.exception("trace sink failed; %d trace(s) not written", len(batch))
            return "failed"
        try:
            finished = await self._bounded(call, self._sink_timeout_s)
        except asyncio.CancelledError:
            await self._abandon(call)
            raise
        if not finished:
            await self._abandon(call)
            logger.warning(
                "trace sink took over %.3gs; %d trace(s) not written", self._sink_timeout_s, len(batch)
            )
            return "timed_out"
        if call.cancelled() or call.exception() is not None:
            log = logger.debug if quiet else logger.warning
            log("trace sink failed on %d trace(s): %r", len(batch), _outcome(call))
            return "failed"
        return "written"

    @staticmethod
    async def _bounded(call: asyncio.Future[None], timeout_s: float) -> bool:
        done, _ = await asyncio.wait({call}, timeout=timeout_s)
        return bool(done)

    @staticmethod
    async def _abandon(call: asyncio.Future[None]) -> None:
        call.cancel()
        # a sink that ignores cancellation is left to finish on its own, after this grace period
        await asyncio.wait({call}, timeout=_CANCEL_GRACE_S)

    # -- closing ----------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Drain what is queued, close the sink. Safe to call more than once and from any loop."""
        loop = self._loop
        if loop is None or loop is _running_loop():
            await self._close_here()
        elif loop.is_running():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._close_here(), loop))
        else:
            await self._close_orphaned()

    def close(self) -> None:
        """Sync close, for ``in_thread()`` writers (or any writer whose loop runs in another thread)."""
        loop = self._loop
        if loop is None:
            asyncio.run(self._close_here())
            return
        if not loop.is_running():
            asyncio.run(self._close_orphaned())
            return
        if loop is _running_loop():
            raise RuntimeError("close() would block the writer's own loop; use 'await writer.aclose()'")
        asyncio.run_coroutine_threadsafe(self._close_here(), loop).result()
        if self._thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join()
            self._thread = None

    async def _close_orphaned(self) -> None:
        """Close a writer whose loop has stopped (e.g. its ``asyncio.run`` ended without ``aclose``):
        its task can no longer write, so what is still queued is counted as dropped."""
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        if self._queue is not None:
            self._drop(_discard_queued(self._queue), "the writer's event loop stopped before close")
        await self._close_sink()

    async def _close_here(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        if self._task is not None and self._queue is not None:
            self._queue.put_nowait(_STOP)
            if not await self._bounded(self._task, self._close_timeout_s):
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=_CANCEL_GRACE_S * 2)
                self._drop(_discard_queued(self._queue), f"close took over {self._close_timeout_s}s")
        await self._close_sink()

    async def _close_sink(self) -> None:
        try:
            close_call = asyncio.ensure_future(self.sink.aclose())
        except Exception:  # a sink whose aclose is not awaitable, or raises before awaiting
            logger.exception("trace sink failed to close")
            return
        if not await self._bounded(close_call, self._sink_timeout_s):
            await self._abandon(close_call)
            logger.warning("trace sink did not close within %.3gs", self._sink_timeout_s)
        elif close_call.cancelled() or close_call.exception() is not None:
            logger.warning("trace sink failed to close: %r", _outcome(close_call))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.close()


def _discard_queued(queue: asyncio.Queue[ProviderTrace | _Stop]) -> int:
    discarded = 0
    while not queue.empty():
        if not isinstance(queue.get_nowait(), _Stop):
            discarded += 1
    return discarded


def _outcome(call: asyncio.Future[None]) -> BaseException | str:
    return "cancelled" if call.cancelled() else (call.exception() or "ok")
