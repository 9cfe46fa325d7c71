"""``MemorySink``: keeps every trace in a list, for tests."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import ProviderTrace


class MemorySink:
    def __init__(self) -> None:
        self.traces: list[ProviderTrace] = []
        self.batch_sizes: list[int] = []
        self.closed = False

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        self.traces.extend(traces)
        self.batch_sizes.append(len(traces))

    async def aclose(self) -> None:
        self.closed = True
