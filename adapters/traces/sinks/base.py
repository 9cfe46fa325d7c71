"""The ``TraceSink`` protocol every sink implements.

A sink receives traces in batches from the one ``TraceWriter`` task, on the writer's event loop:

- ``async write_batch(traces)`` stores them all or raises; it must not block the event loop (a sink
  doing blocking I/O moves it to a thread). The writer bounds each call with a timeout and counts
  the batch as failed or timed out; a sink need not protect itself.
- ``async aclose()`` releases the sink's resources; called once, after the last batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..model import ProviderTrace


@runtime_checkable
class TraceSink(Protocol):
    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None: ...

    async def aclose(self) -> None: ...
