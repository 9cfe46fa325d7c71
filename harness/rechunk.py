"""Re-chunking a recorded body, to exercise incremental parsers the way a network would.

A cassette usually holds one string per response, so the original chunking is gone (or, in our
own cassettes, kept in ``streamproof_chunks``). These splitters produce the other shapes a parser
must survive: one chunk per event (``at_frames``: the framing's frames, SSE events or AWS
event-stream messages), seeded random cuts (inside UTF-8 characters and CRLF pairs
too), and one byte at a time.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from ..adapters.framing import framing_for_content_type

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


def at_events(body: bytes) -> list[bytes]:
    """One chunk per SSE event (each chunk ends with its blank line)."""
    chunks, start = [], 0
    for match in _EVENT_END.finditer(body):
        chunks.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        chunks.append(body[start:])
    return chunks


def is_stream(content_type: str) -> bool:
    """Whether a body of ``content_type`` is a stream of frames (a framing's content type) rather
    than one document."""
    return framing_for_content_type(content_type) is not None


def frame_ends(body: bytes, content_type: str) -> list[int] | None:
    """The end offset of every whole frame of a stream of ``content_type``, as its framing
    (``adapters.framing``) cuts it; None when the content type is no stream."""
    framing = framing_for_content_type(content_type)
    return None if framing is None else framing.frame_ends(body)


def at_frames(body: bytes, content_type: str) -> list[bytes]:
    """One chunk per frame of the stream's framing (bytes after the last whole frame in one more);
    the body whole when it is no stream."""
    ends = frame_ends(body, content_type)
    return [body] if ends is None else at_offsets(body, ends)


def at_random_offsets(body: bytes, seed: int, mean_size: int = 16) -> list[bytes]:
    """Cuts at seeded random byte offsets: reproducible for one seed, any offset possible."""
    rng = random.Random(seed)
    chunks, pos = [], 0
    while pos < len(body):
        step = rng.randint(1, 2 * mean_size)
        chunks.append(body[pos : pos + step])
        pos += step
    return chunks


def at_offsets(body: bytes, ends: list[int]) -> list[bytes]:
    """Cuts at recorded chunk end offsets (what ``streamproof_chunks`` stores)."""
    chunks, start = [], 0
    for end in ends:
        if end > start:
            chunks.append(body[start:end])
            start = end
    if start < len(body):
        chunks.append(body[start:])
    return chunks


def byte_by_byte(body: bytes) -> Iterator[bytes]:
    for i in range(len(body)):
        yield body[i : i + 1]
