"""The event-stream decoder's quick path (sound frames with headers botocore has parsed before) and
Bedrock's base64 in C: both must read exactly what botocore / ``b64decode(validate=True)`` read,
and say the same of what they refuse (benchmarks/stream_path.py, ``chunk_ratio_bedrock_messages``)."""

from __future__ import annotations

import binascii
import random
import struct
import zlib
from base64 import b64decode, b64encode
from collections.abc import Callable

import pytest

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
import botocore.eventstream
from eventstream_frames import chunk, exception
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import MalformedStreamError
from streamproof.adapters.formats.bedrock_messages import _base64
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


def outcome(chunks: list[bytes], botocore_only: bool = False) -> tuple[list[object], str | None]:
    """The frames decoded (headers, payload) and the error's message, if any."""
    decoder = EventStreamDecoder()
    if botocore_only:
        decoder._known_headers = _Forgetful()  # no header block is ever known: botocore reads every frame
    frames: list[EventStreamFrame] = []
    try:
        for piece in chunks:
            frames += decoder.feed(piece)
        frames += decoder.close()
    except MalformedStreamError as exc:
        return [(f.headers, f.payload) for f in frames], str(exc)
    return [(f.headers, f.payload) for f in frames], None


class _Forgetful(dict[bytes, dict[str, object]]):
    def __setitem__(self, key: bytes, value: dict[str, object]) -> None:
        pass


@pytest.mark.parametrize("how", ["whole", "per frame"])
def test_frames_with_headers_seen_before_are_read_without_botocores_buffer(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's buffer parses every header again in Python (~10 us a frame): it reads only the
    first frame of each header block."""
    calls = []
    botocore_next = botocore.eventstream.EventStreamBuffer.next

    def counted(self: botocore.eventstream.EventStreamBuffer) -> botocore.eventstream.EventStreamMessage:
        calls.append(1)
        return botocore_next(self)

    monkeypatch.setattr(botocore.eventstream.EventStreamBuffer, "next", counted)
    frames, error = outcome([BODY] if how == "whole" else FRAMES)
    assert error is None and len(frames) == len(FRAMES)
    assert len(calls) <= 4  # prelude, then frame: for the chunk headers and the exception's


@pytest.mark.parametrize("how", ["whole", "per frame", "seeded random", "byte by byte"])
def test_frames_are_the_same_as_botocore_reads_them(how: str) -> None:
    chunks = {
        "whole": [BODY],
        "per frame": FRAMES,
        "seeded random": cuts(BODY, 3),
        "byte by byte": [BODY[i : i + 1] for i in range(len(BODY))],
    }[how]
    frames, error = outcome(chunks)
    assert (frames, error) == outcome([BODY], botocore_only=True) and error is None
    assert frames[20] == (
        {
            ":exception-type": "throttlingException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        b'{"message": "slow down"}',
    )
    assert all(headers is not frames[0][0] for headers, _ in frames[1:])  # each frame its own dict


def with_prelude(total: int, headers: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers)
    return prelude + struct.pack(">I", zlib.crc32(prelude)) + rest


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_damaged_stream_reads_and_fails_as_botocore_reads_it(data: st.DataObject) -> None:
    """After sound frames with the same headers (which the quick path reads), a damaged one: the
    same frames come first and the same error, in the same words, as with botocore alone."""
    body = b"".join(FRAMES[:8])
    damage = data.draw(st.sampled_from(["flip", "truncate", "lengths", "insert"]))
    at = data.draw(st.integers(len(FRAMES[0]), len(body) - 1), label="at")
    if damage == "flip":
        body = body[:at] + bytes([body[at] ^ (1 << data.draw(st.integers(0, 7)))]) + body[at + 1 :]
    elif damage == "truncate":
        body = body[:at]
    elif damage == "insert":
        body = body[:at] + data.draw(st.binary(min_size=1, max_size=8), label="inserted") + body[at:]
    else:  # the third frame's lengths, with a right prelude CRC
        start = len(FRAMES[0]) * 2
        total = data.draw(st.integers(0, 2**32 - 1), label="total")
        headers = data.draw(st.integers(0, 2**32 - 1), label="headers")
        body = body[:start] + with_prelude(total, headers, body[start + 12 :])
    seed = data.draw(st.integers(0, 100), label="seed")
    for chunks in ([body], cuts(body, seed)):
        assert outcome(chunks) == outcome(chunks, botocore_only=True)


BASE64ISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def verdict(decode: Callable[[str], bytes], text: str) -> bytes | str:
    try:
        return decode(text)
    except binascii.Error as exc:
        return f"binascii.Error: {exc}"


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        st.binary(max_size=30).map(lambda raw: b64encode(raw).decode()),
        st.text(st.sampled_from(BASE64ISH + "=\n -_.é"), max_size=16),
    )
)
def test_base64_in_c_reads_and_refuses_what_b64decode_validate_does(text: str) -> None:
    def reference(value: str) -> bytes:
        return b64decode(value, validate=True)

    try:
        expected = verdict(reference, text)
    except ValueError as exc:  # not ASCII: b64decode's own ValueError, not a binascii.Error
        with pytest.raises(ValueError, match=str(exc)):
            _base64(text)
        return
    assert verdict(_base64, text) == expected
