"""The incremental top-level string field reader: exact decoding at any fragmentation, in O(n)."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import MalformedStreamError
from streamproof.adapters.partial_json import TopLevelStringFields


def read(fragments: list[str], *fields: str) -> dict[str, str]:
    reader = TopLevelStringFields(*fields)
    found: dict[str, str] = {}
    for fragment in fragments:
        for field, text in reader.feed(fragment):
            found[field] = found.get(field, "") + text
    return found


def every_split(document: str) -> list[list[str]]:
    """The document cut in two at every offset, and one character at a time."""
    return [[document[:cut], document[cut:]] for cut in range(len(document) + 1)] + [list(document)]


def expected(document: str, *fields: str) -> dict[str, str]:
    parsed = json.loads(document)
    return {field: parsed[field] for field in fields if isinstance(parsed.get(field), str) and parsed[field]}


TRICKY = (
    '{"path": "C:\\\\dir\\\\", "quote": "say \\"hi\\"\\\\", "n": -1.5e+10, "m": 2E-3, "z": 0,'
    ' "ok": true, "no": false, "nil": null, "nested": {"a": [1, {"b": "}]\\\\\\"["}, [[]], {}]},'
    ' "message": "line\\none \\"quoted\\" back\\\\slash \\/ \\b\\f\\r\\t caf\\u00e9 \\ud83d\\ude00 end\\\\",'
    ' "inner_thoughts": "think \\u2603\\\\"}'
)


def test_every_split_of_a_tricky_document_gives_exactly_what_json_loads_gives() -> None:
    want = expected(TRICKY, "message", "inner_thoughts")
    assert want["message"].endswith("\U0001f600 end\\")
    for fragments in every_split(TRICKY):
        assert read(fragments, "message", "inner_thoughts") == want, fragments


def test_escaped_backslashes_before_a_closing_quote_end_the_skipped_string() -> None:
    document = '{"skip": "ends with a backslash\\\\", "message": "after"}'
    for fragments in every_split(document):
        assert read(fragments, "message") == {"message": "after"}


def test_escaped_quote_does_not_end_the_wanted_string() -> None:
    document = '{"message": "a\\"b\\\\\\"c"}'
    assert json.loads(document)["message"] == 'a"b\\"c'
    for fragments in every_split(document):
        assert read(fragments, "message") == {"message": 'a"b\\"c'}


def test_numbers_with_exponents_and_literals_are_skipped() -> None:
    document = '{"a": 1e5, "b": -0.25E-12, "c": 3e+0, "d": true, "e": null, "message": "x", "f": 10}'
    for fragments in every_split(document):
        assert read(fragments, "message") == {"message": "x"}


def test_surrogate_pair_split_anywhere_decodes_to_one_character() -> None:
    document = '{"message": "\\ud83d\\ude00\\ud83c\\udf89"}'
    for fragments in every_split(document):
        assert read(fragments, "message") == {"message": "\U0001f600\U0001f389"}


def test_lone_surrogates_stay_lone_as_in_json_loads() -> None:
    document = '{"message": "a\\ud83dz\\ude00\\ud83d\\n\\ud83d"}'
    for fragments in every_split(document):
        assert read(fragments, "message") == {"message": json.loads(document)["message"]}


def test_deep_nesting_in_skipped_values() -> None:
    depth = 300
    nested = '{"k": ' * depth + '"}]{["' + "}" * depth
    document = '{"deep": [' + nested + "], " + '"message": "found"}'
    assert json.loads(document)["message"] == "found"
    assert read([document], "message") == {"message": "found"}
    assert read(list(document), "message") == {"message": "found"}


def test_characters_stream_before_the_string_closes() -> None:
    reader = TopLevelStringFields("message")
    assert reader.feed('{"other": "message", "mess') == []
    assert reader.feed('age": "Hel') == [("message", "Hel")]
    assert reader.feed("lo \\u00") == [("message", "lo ")]
    assert reader.feed('e9!", "x": 1') == [("message", "é!")]
    assert not reader.complete
    assert reader.feed("}") == []
    assert reader.complete


def test_escaped_key_names_match_and_non_string_values_yield_nothing() -> None:
    assert read(['{"mess\\u0061ge": "escaped key"}'], "message") == {"message": "escaped key"}
    assert (
        read(['{"message": {"text": "not a string"}, "inner_thoughts": 5}'], "message", "inner_thoughts")
        == {}
    )


def test_a_repeated_wanted_key_streams_only_the_first_time() -> None:
    assert read(['{"message": "first", "message": "second"}'], "message") == {"message": "first"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('["message"]', "expected '{' at offset 0"),
        ('{"message": "bad \\x escape"}', "invalid escape '\\x'"),
        ('{"message": "\\u12G4"}', "invalid \\u escape"),
        ('{"count": 12x, "message": "y"}', "'12x'"),
        ('{"a": 1 "message": "y"}', "expected ',' or '}' at offset 8"),
        ('{"a" 1}', "expected ':'"),
        ('{"a": , "b": 1}', "expected a value at offset 6"),
        ('{"a": 1} trailing', "nothing after the closing '}'"),
    ],
)
def test_broken_arguments_raise_a_malformed_stream_error_naming_the_problem(
    document: str, problem: str
) -> None:
    with pytest.raises(MalformedStreamError, match="tool-call arguments") as caught:
        read(list(document), "message")
    assert problem in str(caught.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    others=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    message=st.text(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_random_documents_at_random_cuts_match_json_loads(
    others: dict[str, object], message: str, cuts: list[int], ensure_ascii: bool, indent: int | None
) -> None:
    others.pop("message", None)
    document = json.dumps({**others, "message": message}, ensure_ascii=ensure_ascii, indent=indent)
    points = sorted({c % (len(document) + 1) for c in cuts} | {0, len(document)})
    fragments = [document[a:b] for a, b in itertools.pairwise(points)]
    assert read(fragments, "message") == expected(document, "message")


def _feed_time(size: int) -> float:
    document = json.dumps({"skip": ['x\\"y' * 4] * (size // 40), "message": "é\\n" * (size // 4)})
    fragments = [document[i : i + 8] for i in range(0, len(document), 8)]
    best = float("inf")
    for _ in range(3):
        reader = TopLevelStringFields("message")
        start = time.perf_counter()
        for fragment in fragments:
            reader.feed(fragment)
        best = min(best, time.perf_counter() - start)
    return best


def test_cost_grows_linearly_with_the_length_not_quadratically() -> None:
    small, large = _feed_time(20_000), _feed_time(160_000)
    # 8x the input: linear gives ~8x, re-parsing every prefix would give ~64x.
    assert large / small < 20, (small, large)
