"""Cassette load throughput: ``load_cassette`` on 1 MB and 10 MB OpenAI SSE cassettes.

The cassettes are written by ``save_cassette`` (scrubbed, one recorded chunk per event with its
time), so the measurement includes what our format adds to vcrpy's: the ``streamproof_chunks``
of every response. MB/s = body megabytes (10^6 bytes) per second of load. Target: >= 200 MB/s,
which needs PyYAML built with libyaml; without it loading is ~100x slower, and this benchmark
says so on stderr. ``cassette_load_vs_yaml_*`` is the same load divided by a bare ``yaml.load``
of the same file, from paired rounds of the same run: below 1 where ``harness.fast_yaml`` lifts
the body out of libyaml's way by more than our checks add.

The loader's memory bounds, as peak RSS in a child process (its high-water mark after the load
less the mark after the imports: what the load added), divided by the file size; target <= 3:
``cassette_load_peak_rss_10mb`` for the 10 MB cassette (the mapped file, the body and its chunk
list), ``cassette_load_peak_rss_aliased`` for a ~1 MB file whose one 1 MB body 200 interactions
name through a YAML alias (shared, not copied: 200 copies would be ~200x), and
``cassette_gzip_bomb_peak_rss`` for a gzip body that inflates to 4x ``MAX_BODY_BYTES``, refused at
the cap: its peak RSS divided by the cap, target <= 1.5.
"""

from __future__ import annotations

import base64
import json
import statistics
import subprocess
import sys
import tempfile
import zlib
from functools import partial
from pathlib import Path

import yaml

from streamproof.harness.cassette import (
    HAVE_LIBYAML,
    MAX_BODY_BYTES,
    YAML_LOADER,
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
from .bodies import openai_chat_body
from .timing import paired_ratio, paired_seconds

_BYTES_PER_DELTA = 290  # one OpenAI content chunk, SSE framing included


def sse_cassette(path: Path, megabytes: float) -> int:
    """Write a ``megabytes`` OpenAI Chat SSE cassette to ``path``; returns its body size."""
    body = openai_chat_body(deltas=int(megabytes * 1_000_000 / _BYTES_PER_DELTA))
    chunks, end = [], 0
    for i, event in enumerate(at_events(body)):
        end += len(event)
        chunks.append((end, 0.25 + i * 0.012))
    request = RecordedRequest(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        Headers({"content-type": ["application/json"]}),
        b'{"model":"gpt-4o-2024-08-06","stream":true,"messages":[{"role":"user","content":"bench"}]}',
    )
    response = RecordedResponse(200, "OK", Headers({"content-type": ["text/event-stream"]}), body, chunks)
    metadata = new_metadata(source="emulator", provider="openai", api="chat", scenario="bench")
    save_cassette(path, Cassette(path, [Interaction(0, request, response)], metadata))
    return len(body)


# Peak RSS: Linux's VmHWM, this process's own high-water mark. (ru_maxrss would do on macOS; on
# Linux a child starts with its parent's ru_maxrss at the fork, which hides anything smaller.)
_PEAK_RSS = """
import json, resource, sys
from streamproof.adapters.errors import CassetteError
from streamproof.harness.cassette import load_cassette

def peak():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = peak()
try:
    interactions = len(load_cassette(sys.argv[1]).interactions)
except CassetteError as exc:
    interactions = str(exc)
print(json.dumps({"added": peak() - before, "loaded": interactions}))
"""


def peak_rss(path: Path) -> tuple[int, int | str]:
    """The bytes of peak RSS that loading ``path`` adds to a fresh process that imported the
    loader, and what it loaded: a count or the error."""
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, str(path)], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout)
    return int(report["added"]), report["loaded"]


def aliased_cassette(path: Path, copies: int) -> int:
    """A cassette of one ~1 MB SSE body that ``copies`` more interactions name through an alias."""
    sse_cassette(path, 1.0)
    text = path.read_text()
    head, tail = text.split("interactions:\n- request:", 1)
    interactions, version = tail.rsplit("version: 1\n", 1)
    first = "interactions:\n- &first\n  request:" + interactions
    path.write_text(head + first + "- *first\n" * copies + "version: 1\n" + version)
    return path.stat().st_size


def gzip_bomb_cassette(path: Path, inflated: int) -> None:
    """A cassette whose gzip body inflates to ``inflated`` zero bytes (a multiple of 1 MiB)."""
    mib = bytes(1 << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    one_mib = deflater.compress(mib) + deflater.flush(zlib.Z_FULL_FLUSH)  # each MiB deflates alike
    crc = 0
    for _ in range(inflated >> 20):
        crc = zlib.crc32(mib, crc)
    member = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + one_mib * (inflated >> 20)
    member += deflater.flush() + crc.to_bytes(4, "little") + (inflated % 2**32).to_bytes(4, "little")
    lines = "".join(f"        {line}\n" for line in base64.encodebytes(member).decode().splitlines())
    path.write_text(
        "interactions:\n- request: {method: POST, uri: 'https://api.openai.com/v1/chat/completions'}\n"
        "  response:\n    status: {code: 200, message: OK}\n"
        "    headers: {content-type: [text/event-stream], content-encoding: [gzip]}\n"
        f"    body:\n      string: !!binary |\n{lines}version: 1\n"
    )


def memory_bounds(directory: Path, ten_mb: Path) -> list[Result]:
    """The peak-RSS results (see the module docstring)."""
    if sys.platform not in ("linux", "darwin"):
        return []
    added, _ = peak_rss(ten_mb)
    results: list[Result] = [
        {
            "name": "cassette_load_peak_rss_10mb",
            "value": added / ten_mb.stat().st_size,
            "unit": "x file",
            "target": "<= 3",
            "note": f"{added / 1e6:.1f} MB added loading a {ten_mb.stat().st_size / 1e6:.1f} MB file",
        }
    ]
    aliased = directory / "aliased.yaml"
    size = aliased_cassette(aliased, 200)
    added, loaded = peak_rss(aliased)
    results.append(
        {
            "name": "cassette_load_peak_rss_aliased",
            "value": added / size,
            "unit": "x file",
            "target": "<= 3",
            "note": f"{added / 1e6:.1f} MB added for {loaded} interactions naming one body, {size / 1e6:.1f} MB file",
        }
    )
    bomb = directory / "bomb.yaml"
    gzip_bomb_cassette(bomb, 4 * MAX_BODY_BYTES)
    added, refused = peak_rss(bomb)
    results.append(
        {
            "name": "cassette_gzip_bomb_peak_rss",
            "value": added / MAX_BODY_BYTES,
            "unit": "x cap",
            "target": "<= 1.5",
            "note": f"{added / 1e6:.1f} MB added refusing {bomb.stat().st_size / 1e6:.1f} MB of gzip that"
            f" inflates to {4 * MAX_BODY_BYTES / 1e6:.0f} MB"
            + ("" if isinstance(refused, str) else " (NOT refused)"),
        }
    )
    return results


def _bare_yaml_load(path: Path) -> object:
    return yaml.load(path.read_bytes(), Loader=YAML_LOADER)


def libyaml_check(have_libyaml: bool) -> Result:
    """The ``yaml_has_libyaml`` result, warning on stderr when it is 0."""
    if not have_libyaml:
        print(
            "warning: PyYAML lacks libyaml; cassettes load ~100x slower (install a PyYAML wheel with libyaml)",
            file=sys.stderr,
        )
    return {
        "name": "yaml_has_libyaml",
        "value": 1.0 if have_libyaml else 0.0,
        "unit": "bool",
        "target": "== 1",
    }


def run(quick: bool = False) -> list[Result]:
    results = [libyaml_check(HAVE_LIBYAML)]
    with tempfile.TemporaryDirectory() as directory:
        for label, megabytes, repeats in (
            ("1mb", 1.0, 5 if quick else 15),
            ("10mb", 10.0, 3 if quick else 7),
        ):
            path = Path(directory) / f"{label}.yaml"
            size = sse_cassette(path, megabytes)
            samples = paired_seconds(
                {"load": partial(load_cassette, path), "yaml": partial(_bare_yaml_load, path)}, repeats
            )
            seconds = statistics.median(samples["load"])
            results.append(
                {
                    "name": f"cassette_load_mb_per_s_{label}",
                    "value": size / 1_000_000 / seconds,
                    "unit": "MB/s",
                    "target": ">= 200",
                    "note": f"{size / 1_000_000:.1f} MB body, {path.stat().st_size / 1_000_000:.1f} MB file",
                }
            )
            results.append(
                {
                    "name": f"cassette_load_vs_yaml_{label}",
                    "value": paired_ratio(samples["load"], samples["yaml"]),
                    "unit": "x",
                }
            )
        results += memory_bounds(Path(directory), Path(directory) / "10mb.yaml")
    return results
