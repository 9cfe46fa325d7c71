"""Small timing helpers: medians of repeated runs, with the garbage collector out of the way.

This machine kind is shared: its speed drifts by tens of percent within a minute. A ratio is
therefore measured from *paired* samples: the arms run one after the other in each round, in a
shuffled order, and the ratio is the median of the per-round ratios, so a slow moment slows both.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def _quiet_gc() -> Iterator[None]:
    gc.collect()
    gc.freeze()  # a full collection over the SDKs' objects costs ~80 ms (PERF-FACTS.md)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    with _quiet_gc():
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def paired_seconds(arms: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each arm, sampled in rounds (one run of every arm, shuffled order)."""
    return paired_values({name: _timed(fn) for name, fn in arms.items()}, repeats)


def _timed(fn: Callable[[], object]) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


def paired_values(arms: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Each arm's own measurements (e.g. a time to first chunk), sampled in rounds (one run of every
    arm, shuffled order), after one warm-up run each."""
    for fn in arms.values():
        fn()  # warm-up
    order = list(arms)
    shuffle = random.Random(0).shuffle
    samples: dict[str, list[float]] = {name: [] for name in arms}
    with _quiet_gc():
        for _ in range(repeats):
            shuffle(order)
            for name in order:
                samples[name].append(arms[name]())
    return samples


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median of the per-round ratios of two arms sampled by ``paired_seconds``."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))
