"""``streamproof scan PATH...``: report secret-shaped strings in files (exit 1 when any is found).

The patterns are the scrubber's (``harness.scrub``), plus the values of key-like environment
variables, so a cassette that a scrubbed write produced always scans clean; ``!!binary`` scalars
(a foreign cassette's gzip bodies, an AWS event stream and the base64 payloads of its frames) are
decoded and scanned too. Directories are walked
recursively (``.git`` skipped, each directory once however many symlinks lead to it). Each
finding prints as ``file:line:kind``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import re
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..harness.formats import FORMATS
from ..harness.scrub import Finding, find_secrets

_SKIPPED_DIRECTORIES = frozenset({".git"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or directories (searched recursively)"
    )


def _files(path: Path, seen: set[Path] | None = None) -> Iterator[Path]:
    """Regular files under ``path``. A directory reached twice (symlinks that point back up, or two
    links to one place) is walked once: ``seen`` holds the resolved directories walked so far."""
    seen = set() if seen is None else seen
    if path.is_dir():
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        for child in sorted(path.iterdir()):
            if child.is_dir() and child.name in _SKIPPED_DIRECTORIES:
                continue
            yield from _files(child, seen)
    elif path.is_file():
        yield path


# A YAML ``!!binary`` scalar (a foreign cassette's gzip body, say): the tag, then base64 inline or
# in a block of indented lines. Its bytes are scanned too, gunzipped when they are gzip or zlib.
_BINARY = re.compile(
    rb"!!binary[ \t]+(?:\|[-+0-9]*[ \t]*)?[\"']?"
    rb"((?:(?:\r?\n)?[ \t]*[A-Za-z0-9+/=]+[\"']?[ \t]*(?=\r?\n|$))+)"
)
_MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # a small gzip may unpack to gigabytes: look at this much


def _unpacked(blob: bytes) -> bytes:
    """``blob``, or what it unpacks to when it is gzip (or zlib) data; at most _MAX_UNPACKED_BYTES."""
    if blob[:2] == b"\x1f\x8b":
        wbits = 16 + zlib.MAX_WBITS
    elif blob[:1] == b"\x78":
        wbits = zlib.MAX_WBITS
    else:
        return blob
    try:
        return zlib.decompressobj(wbits).decompress(blob, _MAX_UNPACKED_BYTES)
    except zlib.error:
        return blob


def _binary_blobs(data: bytes) -> Iterator[tuple[int, bytes]]:
    """``(offset of the tag, decoded bytes)`` of each ``!!binary`` scalar in ``data``."""
    for match in _BINARY.finditer(data):
        try:
            blob = base64.b64decode(re.sub(rb"[\s\"']", b"", match.group(1)), validate=True)
        except binascii.Error:
            continue
        yield match.start(), _unpacked(blob)


def _blob_secrets(blob: bytes) -> Iterator[Finding]:
    """The secrets in a decoded ``!!binary`` blob, and in what its frames carry when it is a binary
    framing (an AWS event stream's base64 payloads)."""
    yield from find_secrets(blob)
    for fmt in FORMATS.values():
        for document in fmt.inner_documents(blob) or ():
            yield from find_secrets(document)


def scan_file(path: Path) -> list[tuple[int, str]]:
    """``(line number, kind)`` for every secret in ``path``, in file order; a secret inside a
    ``!!binary`` scalar (or inside the frames it holds) is reported on the tag's line."""
    data = path.read_bytes()
    found = {(f.offset, f.kind) for f in find_secrets(data)}
    if b"!!binary" in data:
        found |= {(offset, f.kind) for offset, blob in _binary_blobs(data) for f in _blob_secrets(blob)}
    return sorted({(data.count(b"\n", 0, offset) + 1, kind) for offset, kind in found})


def run(args: argparse.Namespace) -> int:
    found = False
    for given in args.paths:
        path = Path(given)
        if not path.exists():
            print(f"{given}: no such file or directory", file=sys.stderr)
            return 2
        for file in _files(path):
            try:
                findings = scan_file(file)
            except OSError as exc:
                print(f"{file}: cannot read: {exc.strerror or exc}", file=sys.stderr)
                return 2
            for line, kind in findings:
                print(f"{file}:{line}:{kind}")
                found = True
    return 1 if found else 0
