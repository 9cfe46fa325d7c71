"""The incremental SSE decoder: every line-ending and framing shape, at any chunking."""

from __future__ import annotations

import time

import pytest

from streamproof.adapters.errors import MalformedStreamError
from streamproof.adapters.framing.sse import SSEDecoder, SSEEvent
from streamproof.harness.rechunk import at_random_offsets, byte_by_byte


def decode(chunks: list[bytes]) -> tuple[list[SSEEvent], bool]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    events += decoder.close()
    return events, decoder.tail_unterminated


def decode_every_way(raw: bytes) -> list[SSEEvent]:
    """Decode whole, byte by byte, cut at every offset and at random offsets; all must agree."""
    whole, _ = decode([raw])
    assert decode(list(byte_by_byte(raw)))[0] == whole
    for cut in range(len(raw) + 1):
        assert decode([raw[:cut], raw[cut:]])[0] == whole, cut
    for seed in range(5):
        assert decode(at_random_offsets(raw, seed, mean_size=3))[0] == whole, seed
    return whole


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings_lf_crlf_and_cr_alone(newline: bytes) -> None:
    raw = b"event: first\ndata: one\n\nevent: second\ndata: two\n\n".replace(b"\n", newline)
    assert decode_every_way(raw) == [("first", "one", None), ("second", "two", None)]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Cut between CR and LF, and right after a CRLF that ends a field line.
    assert decode([b"event: a\r", b"\ndata: 1\r\n\r\n"])[0] == [("a", "1", None)]
    assert decode([b"event: a\r\n", b"data: 1\r\n\r\n"])[0] == [("a", "1", None)]
    assert decode([b"data: 1\r\n\r", b"\n", b"data: 2\r\n\r\n"])[0] == [
        (None, "1", None),
        (None, "2", None),
    ]
    # A CR inside a chunk is a whole line end: the next chunk's leading LF is a line end of its own.
    mixed = b"data: a\rdata: b\n\ndata: c\r\n\r\n"
    assert decode([mixed[:15], mixed[15:]])[0] == [(None, "a\nb", None), (None, "c", None)]
    assert decode_every_way(mixed) == [(None, "a\nb", None), (None, "c", None)]


def test_comments_are_ignored() -> None:
    raw = b": OPENROUTER PROCESSING\n\n: keep-alive\ndata: x\n: inside\n\n"
    assert decode_every_way(raw) == [(None, "x", None)]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode_every_way(b"data: line one\ndata: line two\ndata:\ndata\n\n") == [
        (None, "line one\nline two\n\n", None)
    ]


def test_the_space_after_the_colon_is_optional_and_only_one_is_removed() -> None:
    raw = b"event:tight\ndata:{}\n\nevent:  padded\ndata:  two spaces\n\n"
    assert decode_every_way(raw) == [("tight", "{}", None), (" padded", " two spaces", None)]


def test_event_without_data_dispatches_nothing_and_does_not_leak_its_name() -> None:
    raw = b"event: lonely\n\ndata: next\n\n"
    assert decode_every_way(raw) == [(None, "next", None)]


def test_id_and_unknown_fields() -> None:
    raw = b"id: 7\nretry: 100\nfuture: x\ndata: a\n\ndata: b\n\n"
    assert decode_every_way(raw) == [(None, "a", "7"), (None, "b", "7")]


def test_utf8_character_split_across_chunks() -> None:
    raw = "data: naïve — “quotes” \U0001f600\n\n".encode()
    assert decode_every_way(raw) == [(None, "naïve — “quotes” \U0001f600", None)]


def test_missing_final_blank_line_dispatches_at_close_and_says_so() -> None:
    events, unterminated = decode([b"data: {}\r\n\r\ndata: last"])
    assert events == [(None, "{}", None), (None, "last", None)]
    assert unterminated
    events, unterminated = decode([b"data: {}\n\n"])
    assert (events, unterminated) == ([(None, "{}", None)], False)


def test_invalid_utf8_is_a_malformed_stream() -> None:
    with pytest.raises(MalformedStreamError, match="not valid UTF-8 at byte 6"):
        decode([b"data: \xff\xfe\n\n"])
    with pytest.raises(MalformedStreamError, match="not valid UTF-8"):
        decode([b"data: \xe2\x82"])  # a character cut by the end of the stream


def test_a_long_line_over_many_chunks_keeps_its_crlf_split_and_neighbours() -> None:
    # A long line held over many chunks, ended by a CR at a chunk's end whose LF opens the next.
    long_value = "é" * 20_000  # 2 bytes each: chunk cuts fall inside characters too
    raw = f"data: a\r\n\r\ndata: {long_value}\r\n\r\ndata: b\n\n".encode()
    cr = raw.index(b"\r\n\r\ndata: b")
    chunks = [raw[i : min(i + 999, cr + 1)] for i in range(0, cr + 1, 999)]
    chunks.append(raw[cr + 1 :])
    assert chunks[-2].endswith(b"\r") and chunks[-1].startswith(b"\n")
    assert decode(chunks) == ([(None, "a", None), (None, long_value, None), (None, "b", None)], False)
    medium = f"data: {long_value[:150]}\r\ndata: {long_value[:20]}\r\n\r\ndata: b\r\n".encode()
    joined = f"{long_value[:150]}\n{long_value[:20]}"
    assert decode_every_way(medium) == [(None, joined, None), (None, "b", None)]


def _chunk_costs_early_and_late(window: int = 32) -> tuple[float, float]:
    """Seconds to feed the first and the last ``window`` 4 KiB chunks of one 2 MiB data line."""
    body = b"data: " + b"x" * (2 << 20) + b"\n\n"
    chunks = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    late_from = len(chunks) - 1 - window  # the very last chunk ends the line: timed by neither
    early = late = 0.0
    for number, chunk in enumerate(chunks):
        start = time.perf_counter()
        events += decoder.feed(chunk)
        if number < window:
            early += time.perf_counter() - start
        elif late_from <= number < late_from + window:
            late += time.perf_counter() - start
    assert events == [(None, "x" * (2 << 20), None)]
    return early, late


def test_a_chunk_of_a_long_line_costs_the_same_however_much_of_the_line_is_held() -> None:
    # Linear in the line's length means each chunk costs the same whether 4 KiB or 2 MiB of its
    # line is already held. Not an absolute time: the ratio of the same work early and late in
    # one line (linear: ~1x; the old decoder, re-joining and re-searching what it held: ~50x).
    # The best of a few runs keeps a busy machine's hiccups out.
    runs = [_chunk_costs_early_and_late() for _ in range(5)]
    early, late = min(run[0] for run in runs), min(run[1] for run in runs)
    assert late < 4 * early, f"the last chunks took {late / early:.1f}x as long as the first ones"
