"""Wall time of ``streamproof check`` over the bundled cassettes with the reference stack.

Run as a subprocess (``python -m streamproof.cli check``), so the figure includes what a user
waits for: interpreter start, importing the SDKs, collecting the items, the eight checks on every
cassette, the snapshot comparison. Target: under 10 s on 2 cores. ``check_cpu_seconds_bundled``
is the CPU time the child used (user + system), which says how much of the wall time was the
suite's own work rather than waiting for a busy machine.
"""

from __future__ import annotations

import resource
import statistics
import subprocess
import sys
import time

from . import Result


def _one_run() -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "streamproof.cli", "check"], capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"streamproof check failed (exit {done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def run(quick: bool) -> list[Result]:
    runs = [_one_run() for _ in range(1 if quick else 3)]
    return [
        Result(
            name="check_seconds_bundled", value=statistics.median(w for w, _ in runs), unit="s", target="< 10"
        ),
        Result(name="check_cpu_seconds_bundled", value=statistics.median(c for _, c in runs), unit="s"),
    ]
