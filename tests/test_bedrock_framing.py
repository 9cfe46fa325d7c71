"""The AWS event-stream framing (``adapters/framing/eventstream.py``): frames out of any chunking,
and every way a frame can be wrong -> a ``MalformedStreamError`` naming it (fuzzed with hypothesis)."""

from __future__ import annotations

import random
import re
import struct
import zlib

import pytest

pytest.importorskip("botocore", reason="the bedrock extra is not installed")
from eventstream_frames import chunk, exception, frame, headers_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import LLMError, MalformedStreamError
from streamproof.adapters.framing import FRAMINGS, framing_for_content_type
from streamproof.adapters.framing.eventstream import EventStreamDecoder, EventStreamFrame

EVENT = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
FRAMES = [
    chunk({"type": "ping"}),
    chunk({"type": "message_stop"}, p="abcdef"),
    exception("throttlingException", "no"),
]
BODY = b"".join(FRAMES)


def decode(chunks: list[bytes]) -> list[EventStreamFrame]:
    decoder = EventStreamDecoder()
    frames = [f for piece in chunks for f in decoder.feed(piece)]
    return frames + decoder.close()


def described(frames: list[EventStreamFrame]) -> list[tuple[dict[str, object], bytes]]:
    return [(f.headers, f.payload) for f in frames]


def cuts(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(body):
        step = rng.randint(1, 40)
        out.append(body[pos : pos + step])
        pos += step
    return out


def test_the_framing_is_registered_with_its_content_type() -> None:
    framing = FRAMINGS["eventstream"]
    assert framing.content_type == "application/vnd.amazon.eventstream"
    assert framing_for_content_type("application/vnd.amazon.eventstream") is framing


@pytest.mark.parametrize("how", ["whole", "per frame", "seeded random", "byte by byte"])
def test_frames_do_not_depend_on_the_chunking(how: str) -> None:
    chunks = {
        "whole": [BODY],
        "per frame": FRAMES,
        "seeded random": cuts(BODY, 7),
        "byte by byte": [BODY[i : i + 1] for i in range(len(BODY))],
    }[how]
    frames = decode(chunks)
    assert described(frames) == described(decode([BODY]))
    assert [f.message_type for f in frames] == ["event", "event", "exception"]
    assert [f.event_type for f in frames] == ["chunk", "chunk", "throttlingException"]
    assert frames[2].payload == b'{"message": "no"}'


def test_frame_ends_are_the_frames_ends() -> None:
    ends = FRAMINGS["eventstream"].frame_ends(BODY)
    assert ends == [len(FRAMES[0]), len(FRAMES[0]) + len(FRAMES[1]), len(BODY)]
    assert FRAMINGS["eventstream"].frame_ends(BODY[:-1]) == ends[:2]  # a cut last frame is no frame
    assert FRAMINGS["eventstream"].frame_ends(b"") == []


def corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def with_prelude(total: int, headers: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers)
    return prelude + struct.pack(">I", zlib.crc32(prelude)) + rest


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (corrupt(FRAMES[0], 9), r"frame at byte 0: bad prelude \(CRC mismatch"),
        (
            FRAMES[0] + corrupt(FRAMES[1], len(FRAMES[1]) - 1),
            rf"frame at byte {len(FRAMES[0])}: bad frame \(CRC mismatch",
        ),
        (FRAMES[0] + corrupt(FRAMES[1], 30), r"bad frame \(CRC mismatch"),  # inside the headers
        (with_prelude(8, 0, b""), r"wrong lengths: a frame of 8 bytes with 0 bytes of headers"),
        (with_prelude(20, 10, b"x" * 8), r"wrong lengths: a frame of 20 bytes with 10 bytes of headers"),
        (with_prelude(2**31, 0, b""), r"bad prelude \(Payload length of .* exceeded the maximum"),
        (with_prelude(1000, 200 * 1024, b""), r"wrong lengths|bad prelude \(Header length"),
        (
            BODY[:-5],
            rf"frame at byte {len(FRAMES[0]) + len(FRAMES[1])}: the body ends inside a frame \(\d+ bytes of \d+\)",
        ),
        (BODY + b"\x00\x00", r"the body ends inside a frame \(2 bytes of a 12-byte prelude\)"),
        (frame({":message-type": "gossip"}, b"{}"), r"unknown :message-type 'gossip'"),
        (frame({":event-type": "chunk"}, b"{}"), r"unknown :message-type None"),
        (frame(headers_bytes(EVENT) + b"\x05", b"{}"), r"headers that do not parse"),
        (frame(b"\x03abc\x63", b"{}"), r"headers that do not parse \(KeyError"),  # value type 99
        (frame(headers_bytes({":message-type": "event"}) * 2, b"{}"), r"bad frame \(Duplicate header"),
    ],
)
def test_a_bad_frame_is_a_malformed_stream_naming_the_problem(body: bytes, problem: str) -> None:
    for chunks in ([body], [body[i : i + 1] for i in range(len(body))]):
        with pytest.raises(MalformedStreamError, match=r"^AWS event stream: frame at byte \d+: ") as raised:
            decode(chunks)
        assert re.search(problem, str(raised.value)), raised.value


def test_the_frames_before_a_bad_one_come_first_and_the_error_stays() -> None:
    decoder = EventStreamDecoder()
    frames = decoder.feed(FRAMES[0] + FRAMES[1] + corrupt(FRAMES[2], 9))
    assert len(frames) == 2
    for _ in range(2):
        with pytest.raises(MalformedStreamError, match="bad prelude"):
            decoder.feed(b"")
    with pytest.raises(MalformedStreamError, match="bad prelude"):
        decoder.close()


def valid_frames() -> st.SearchStrategy[bytes]:
    header_values = st.text(st.characters(codec="utf-8"), max_size=20)
    headers = st.dictionaries(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=10), header_values, max_size=3
    )
    return st.builds(
        lambda h, kind, payload: frame({**h, ":message-type": kind}, payload),
        headers,
        st.sampled_from(["event", "exception", "error"]),
        st.binary(max_size=60),
    )


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decoded_or_project_error(chunks: list[bytes]) -> None:
    try:
        decode(chunks)
    except LLMError as exc:
        assert isinstance(exc, MalformedStreamError), exc
        assert "AWS event stream: frame at byte" in str(exc)


@FUZZ
@given(body=st.binary(max_size=300), seed=st.integers(0, 1000))
def test_random_bytes_raise_only_malformed_stream(body: bytes, seed: int) -> None:
    decoded_or_project_error(cuts(body, seed))


@FUZZ
@given(frames=st.lists(valid_frames(), min_size=1, max_size=4), data=st.data())
def test_damaged_frames_raise_only_malformed_stream(frames: list[bytes], data: st.DataObject) -> None:
    body = b"".join(frames)
    assert len(decode([body])) == len(frames)
    damage = data.draw(
        st.sampled_from(["flip", "truncate", "length", "headers length", "insert"]), label="damage"
    )
    at = data.draw(st.integers(0, len(body) - 1), label="at")
    if damage == "flip":  # a bad prelude CRC, message CRC, or a flipped bit the CRCs catch
        body = corrupt(body, at)
    elif damage == "truncate":
        body = body[:at]
    elif damage == "insert":
        body = body[:at] + data.draw(st.binary(min_size=1, max_size=8), label="inserted") + body[at:]
    else:  # a wrong length with a right prelude CRC: only the lengths say what is wrong
        total, headers = struct.unpack(">II", body[:8])
        value = data.draw(st.integers(0, 2**32 - 1), label="value")
        total, headers = (value, headers) if damage == "length" else (total, value)
        body = with_prelude(total, headers, body[12:])
    decoded_or_project_error(cuts(body, at))


@FUZZ
@given(raw_headers=st.binary(max_size=40), payload=st.binary(max_size=20))
def test_headers_that_do_not_parse_under_right_crcs_raise_only_malformed_stream(
    raw_headers: bytes, payload: bytes
) -> None:
    decoded_or_project_error([frame(raw_headers, payload)])


@FUZZ
@given(frames=st.lists(valid_frames(), min_size=1, max_size=5), seed=st.integers(0, 1000))
def test_valid_frames_decode_as_botocore_s_own_buffer_decodes_them(frames: list[bytes], seed: int) -> None:
    from botocore.eventstream import EventStreamBuffer

    body = b"".join(frames)
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    expected = [(message.headers, message.payload) for message in buffer]
    assert described(decode(cuts(body, seed))) == expected and len(expected) == len(frames)


@FUZZ
@given(frames=st.lists(valid_frames(), min_size=1, max_size=3), at=st.integers(0, 10_000))
def test_a_flipped_bit_botocore_refuses_is_refused_too(frames: list[bytes], at: int) -> None:
    from botocore.eventstream import EventStreamBuffer, ParserError

    body = corrupt(b"".join(frames), at % len(b"".join(frames)))
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    try:
        list(buffer)
    except ParserError:
        with pytest.raises(MalformedStreamError, match=r"CRC mismatch|wrong lengths|Header length|Payload length"):
            decode([body])
