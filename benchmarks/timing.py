"""Small timing helpers: medians of repeated runs, with the garbage collector out of the way."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    gc.collect()
    gc.freeze()  # a full collection over the SDKs' objects costs ~80 ms (PERF-FACTS.md)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()
    return statistics.median(samples)
