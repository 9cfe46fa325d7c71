"""The event-stream decoder on a long Bedrock-like stream (benchmarks/stream_path.py,
``chunk_ratio_bedrock_messages``): it reads what botocore's own ``EventStreamBuffer`` reads, however
the bytes are cut, and parses each distinct header block once (Bedrock repeats one on every chunk;
botocore's buffer parses it again in Python for every frame, ~10 us a frame)."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
import botocore.eventstream
from eventstream_frames import chunk, exception

from streamproof.adapters.framing.eventstream import EventStreamDecoder, EventStreamFrame

FRAMES = [chunk({"type": "content_block_delta", "index": 0, "delta": {"text": f"w{i}"}}) for i in range(40)]
FRAMES.insert(20, exception("throttlingException", "slow down"))  # other headers, in the middle
BODY = b"".join(FRAMES)


def cuts(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(body):
        step = rng.randint(1, 400)
        out.append(body[pos : pos + step])
        pos += step
    return out


def decoded(chunks: list[bytes]) -> list[tuple[dict[str, object], bytes]]:
    decoder = EventStreamDecoder()
    frames: list[EventStreamFrame] = []
    for piece in chunks:
        frames += decoder.feed(piece)
    frames += decoder.close()
    return [(f.headers, f.payload) for f in frames]


def botocore_read(body: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(body)
    return [(message.headers, message.payload) for message in buffer]


@pytest.mark.parametrize("how", ["whole", "per frame", "seeded random", "byte by byte"])
def test_frames_are_the_ones_botocore_reads(how: str) -> None:
    chunks = {
        "whole": [BODY],
        "per frame": FRAMES,
        "seeded random": cuts(BODY, 3),
        "byte by byte": [BODY[i : i + 1] for i in range(len(BODY))],
    }[how]
    assert decoded(chunks) == botocore_read(BODY)
    assert decoded(chunks)[20][1] == b'{"message": "slow down"}'


@pytest.mark.parametrize("how", ["whole", "per frame"])
def test_each_distinct_header_block_is_parsed_once(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = []
    parse = botocore.eventstream.EventStreamHeaderParser.parse

    def counted(self: botocore.eventstream.EventStreamHeaderParser, data: bytes) -> dict[str, object]:
        parsed.append(data)
        return parse(self, data)  # type: ignore[no-any-return]

    monkeypatch.setattr(botocore.eventstream.EventStreamHeaderParser, "parse", counted)
    assert len(decoded([BODY] if how == "whole" else FRAMES)) == len(FRAMES)
    assert len(parsed) == 2 == len(set(parsed))  # the chunk frames' block and the exception's


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_a_chunk_of_another_buffer_type_gives_the_same_bytes_frames(kind: type) -> None:
    """A chunk that starts at a frame is read in place: one that is not ``bytes`` still gives ``bytes``
    payloads, whole or cut."""
    for chunks in ([BODY], FRAMES, cuts(BODY, 5)):
        frames = decoded([kind(piece) for piece in chunks])
        assert frames == botocore_read(BODY)
        assert all(type(payload) is bytes for _, payload in frames)
