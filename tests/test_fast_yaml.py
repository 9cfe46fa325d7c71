"""load_yaml reads every document exactly as yaml.load does (lifted strings as UTF-8 bytes).

Differential tests: whatever the text, load_yaml and yaml.load give the same data or both raise
the same error. The lift threshold is lowered to 0 so that short examples are lifted too, and the
tests check that lifting really happened where it should, so an always-falling-back reader fails.
"""

from __future__ import annotations

import mmap
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.harness import cassette as cassette_module
from streamproof.harness import fast_yaml
from streamproof.harness.cassette import _LONG_STRING_KEYS, YAML_LOADER, _Dumper, load_cassette
from streamproof.harness.fast_yaml import _lift, load_yaml

BUNDLED = Path(__file__).resolve().parent.parent / "cassettes"
KEYS = frozenset({b"string", b"body", b"text"})


@pytest.fixture(autouse=True)
def lift_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fast_yaml, "LIFT_MIN_BYTES", 0)


def as_text(value: Any) -> Any:
    """The data with lifted bytes decoded, to compare with yaml.load."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    return value


def outcome(load: Any) -> tuple[str, Any]:
    try:
        return "ok", as_text(load())
    except yaml.YAMLError as exc:
        return "error", str(exc)


class FallbackSpy:
    """Counts the documents load_yaml handed whole to libyaml (``_load_whole``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        whole = fast_yaml._load_whole

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return whole(*args, **kwargs)

        monkeypatch.setattr(fast_yaml, "_load_whole", spy)
        self.real = yaml.load


def assert_same(text: bytes, loader: type[Any] = YAML_LOADER, real_load: Any = yaml.load) -> None:
    ours = outcome(lambda: load_yaml(text, loader, KEYS))
    theirs = outcome(lambda: real_load(text, Loader=loader))
    assert ours == theirs, text


def lifted_count(text: bytes) -> int:
    return len(_lift(text, "t0ken", KEYS)[1])


_PLAIN = ["a", "b", " ", "  ", "\n", "\n\n", "\t", "'", '"', ":", "|", "#", "-", "é", "日", "\U0001f600"]
_PLAIN += ["data: {}", "\\", "---", "...", "\ufeff"]
# what the emitter keeps in a literal block: no trailing spaces, no characters it would escape
_BLOCKABLE = [
    "a",
    "b",
    " x",
    "\n",
    "\n\n",
    "\n  indented",
    "'",
    '"',
    ":",
    "|",
    "#",
    "-",
    "é",
    "日",
    "data: {}",
]
_BLOCKABLE += ["\\", "---", "...", "\tx"]
_SPECIAL = ["\r", "\x85", "\u2028", "\x00", "\x7f"]  # line breaks and characters left to libyaml
texts = st.lists(st.sampled_from(_PLAIN + _SPECIAL), max_size=30).map("".join)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(value=texts, other=texts, style=st.sampled_from(["ours", "pyyaml"]))
def test_any_string_written_by_a_dumper_reads_back_the_same(value: str, other: str, style: str) -> None:
    document = {"interactions": [{"request": {"body": other}, "response": {"body": {"string": value}}}]}
    if style == "ours":  # literal blocks for multi-line text
        text = yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**31 - 1)
    else:  # vcrpy's: PyYAML's default styles (single-quoted, folded lines)
        text = yaml.dump(document, Dumper=yaml.SafeDumper)
    assert_same(text.encode("utf-8"))


def test_random_block_strings_are_lifted_and_read_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    spy = FallbackSpy(monkeypatch)
    documents = 0
    for _ in range(500):
        value = "".join(rng.choice(_BLOCKABLE) for _ in range(rng.randint(1, 40)))
        text = yaml.dump({"k": {"string": value}}, Dumper=_Dumper, allow_unicode=True, width=2**31 - 1)
        if text.split("\n", 2)[1].startswith("  string: |"):
            documents += 1
            assert_same(text.encode("utf-8"), real_load=spy.real)
    assert documents > 150
    assert spy.count < documents // 4, "most literal blocks must be read without libyaml"


def test_the_two_shapes_are_lifted_and_read_exactly() -> None:
    text = (
        b"a:\n  body: 'it''s: one line'\n  string: |+\n    line one\n      indented\n\n    last\n\n\n"
        b"  text: |-\n    no final line end\n  other: |\n    not a lifted key\nversion: 1\n"
    )
    assert lifted_count(text) == 3
    data = load_yaml(text, YAML_LOADER, KEYS)
    assert data["a"]["body"] == b"it's: one line"
    assert data["a"]["string"] == b"line one\n  indented\n\nlast\n\n\n"
    assert data["a"]["text"] == b"no final line end"
    assert data["a"]["other"] == "not a lifted key\n"
    assert_same(text)


@pytest.mark.parametrize(
    "text",
    [
        b"k:\n  string: |2\n\n    after an empty first line\n  x: 1\n",  # explicit indentation
        b"k:\n  string: |4-\n      six spaces, four of them content\n  x: 1\n",
        b"k:\n  string: |\n    a\n        \n    b\n  x: 1\n",  # a line of more spaces than the indent
        b"k:\n  string: |\n    a\n    \n    b\n  x: 1\n",  # a line of exactly the indent
        b"k:\n  string: |\n    a\n  \n    b\n  x: 1\n",  # whitespace-only, less than the indent
        b"k:\n  string: |\n    a\n\tb\n",  # a tab where indentation is expected
        b"k:\n  string: |\n    a\r\n    b\n  x: 1\n",  # CRLF
        b"k:\n  string: |\n    a\xc2\x85b\n  x: 1\n",  # NEL is a line break in YAML 1.1
        b"k:\n  string: |\n    a\xe2\x80\xa8b\n  x: 1\n",  # LS
        b"k:\n  string: |\n    a\x07b\n  x: 1\n",  # a control character
        b"k:\n  string: |\n    a\xff\xfeb\n  x: 1\n",  # not UTF-8
        b"k:\n  string: |\n    at the end of the file",
        b"k:\n  string: |\n    a\n# a comment ends the block\n  x: 1\n",
        b"k:\n  string: |\n    a\n  x: |\n    b\n",
        b"k:\n  string: |  # a comment after the header\n    a\n",
        b"k:\n  string: |\n\n    leading empty line, no indicator\n",
        b"k:\n  string: |\n  not indented more than the key\n",
        b"k:\n  string: |\n    a\n\n\n",  # clip with trailing empty lines at the end of the file
        b"k: 'a multi-line quoted scalar\n  string: |\n    looks like a block\n  but is not'\n",
        b"k: {a: 1,\n  string: |\n    in a flow mapping\n  }\n",
        b"k:\n  string: 'an ''escaped'' quote'\n  body: 'unclosed\n",
        b"k:\n  string: 'quote in the middle ' here'\n",
        b"k:\n  string: '\n  continued on the next line'\n",
        b"k:\n  string: ''\n",
        b"k:\n  string: |\n    a\n  string: |\n    b\n",  # a duplicate key
        b"- string: |\n    in a sequence entry\n",
        b"k:\n  string: &anchor |\n    anchored\n  copy: *anchor\n",
        b'k:\n  string: "t0ken-0"\n',  # a value that looks like a placeholder
    ],
)
def test_every_odd_shape_reads_as_libyaml_reads_it(text: bytes) -> None:
    assert_same(text)
    assert_same(text, yaml.SafeLoader)  # the pure-Python loader too


def test_a_block_that_is_not_a_block_falls_back_rather_than_guess() -> None:
    quoted = b"k: 'a multi-line quoted scalar\n  string: |\n    looks like a block\n  but is not'\n"
    assert lifted_count(quoted) == 1  # lifted, then refused when the placeholder came back inside a string
    assert load_yaml(quoted, YAML_LOADER, KEYS) == yaml.load(quoted, Loader=YAML_LOADER)


def _bundled() -> list[Path]:
    return sorted(BUNDLED.rglob("*.yaml"))


@pytest.mark.parametrize("path", _bundled()[:4], ids=lambda p: p.stem)
def test_mutated_cassettes_read_as_libyaml_reads_them(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random edits anywhere (in blocks, headers, indentation): same data or the same error."""
    spy = FallbackSpy(monkeypatch)
    original = path.read_bytes()
    assert lifted_count(original) >= 1
    rng = random.Random(path.name)
    alphabet = [
        b" ",
        b"\n",
        b"\t",
        b"'",
        b"|",
        b":",
        b"#",
        b"x",
        b"\r",
        b"\xc2\x85",
        b"-",
        b"+",
        b"2",
        b"\x00",
    ]
    lifted_reads = 0
    for _ in range(150):
        text = bytearray(original)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            edit = rng.choice(("insert", "delete", "replace"))
            if edit == "insert":
                text[at:at] = rng.choice(alphabet)
            elif edit == "delete":
                del text[at : at + rng.randint(1, 4)]
            else:
                text[at : at + 1] = rng.choice(alphabet)
        fallbacks = spy.count
        assert_same(bytes(text), real_load=spy.real)
        lifted_reads += spy.count == fallbacks
    assert lifted_reads >= 30, "edits that keep the blocks liftable must be read without libyaml"


@pytest.mark.parametrize("path", _bundled(), ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_bundled_cassettes_load_the_same_with_and_without_lifting(path: Path) -> None:
    fast = load_cassette(path)
    slow = yaml.load(path.read_bytes(), Loader=YAML_LOADER)
    for interaction, raw in zip(fast.interactions, slow["interactions"], strict=True):
        body = raw["response"]["body"]["string"]
        assert interaction.response.body == (body.encode() if isinstance(body, str) else body)


def test_long_strings_of_other_keys_stay_strings() -> None:
    text = yaml.dump({"streamproof": {"note": "x\n" * 5000}, "string": "y\n" * 5000}, Dumper=_Dumper).encode()
    data = load_yaml(text, YAML_LOADER, _LONG_STRING_KEYS)
    assert data["streamproof"]["note"] == "x\n" * 5000
    assert data["string"] == b"y\n" * 5000


def test_a_mapped_file_reads_like_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_cassette maps large files; the mapped path (lifting and fallback) gives the same data."""
    monkeypatch.setattr(cassette_module, "_MAP_MIN_BYTES", 0)
    mapped = []
    real_mapped = cassette_module._mapped

    def spy(file: Any) -> Any:
        mapped.append(result := real_mapped(file))
        return result

    monkeypatch.setattr(cassette_module, "_mapped", spy)
    for path in _bundled():
        raw = yaml.load(path.read_bytes(), Loader=YAML_LOADER)
        bodies = [i["response"]["body"]["string"] for i in raw["interactions"]]
        loaded = load_cassette(path)
        assert [i.response.body for i in loaded.interactions] == [
            b.encode() if isinstance(b, str) else b for b in bodies
        ]
    assert mapped and all(isinstance(m, mmap.mmap) and m.closed for m in mapped)
    crlf = tmp_path / "crlf.yaml"  # CR line ends: not lifted, read whole by libyaml from the map
    crlf.write_bytes(_bundled()[0].read_bytes().replace(b"\n", b"\r\n"))
    with crlf.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        assert load_yaml(view, YAML_LOADER, KEYS) == yaml.load(crlf.read_bytes(), Loader=YAML_LOADER)


def test_a_mapped_block_released_after_copying_still_reads_on_the_fallback(tmp_path: Path) -> None:
    """The pages of a lifted block are dropped from the map once copied out; when a later "block"
    sends the document to libyaml after all (its header was inside a quoted scalar), the whole
    map is read again, intact."""
    first = ("    data: " + "x" * 100 + "\n") * 2000
    quoted = 'c: "start\n  string: |\n    not a block\n  end"\n'
    path = tmp_path / "two.yaml"
    path.write_bytes(f"a:\n  string: |\n{first}{quoted}".encode())
    assert lifted_count(path.read_bytes()) == 2
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
        assert load_yaml(view, YAML_LOADER, KEYS) == yaml.load(path.read_bytes(), Loader=YAML_LOADER)


_FOLDABLE = ["a", "b", " ", "x y", "\n", "\n\n", "'", '"', ":", "#", "-", "é", "日", "data: {}", "\\", "---"]


def test_vcrpy_folded_quoted_strings_are_lifted_and_read_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """vcrpy writes bodies single-quoted and folded (PyYAML's default style): lifted, read exactly."""
    rng = random.Random(11)
    spy = FallbackSpy(monkeypatch)
    documents = 0
    for _ in range(500):
        value = "".join(rng.choice(_FOLDABLE) for _ in range(rng.randint(1, 60)))
        width = rng.choice([10, 20, 80])
        document = {"interactions": [{"response": {"body": {"string": value}}}], "version": 1}
        text = yaml.dump(document, Dumper=yaml.SafeDumper, width=width, allow_unicode=rng.random() < 0.5)
        if "string: '" in text and "\n" in text.split("string: '", 1)[1].split("'\n", 1)[0]:
            documents += 1
            assert_same(text.encode("utf-8"), real_load=spy.real)
    assert documents > 100
    assert spy.count < documents // 4, "most folded quoted scalars must be read without libyaml"


@pytest.mark.parametrize(
    "text",
    [
        b"a:\n  string: 'one\n    two\n\n    three'\nversion: 1\n",  # the shape: lifted
        b"a:\n  string: 'one \n    two'\n",  # a space before the break: YAML drops it
        b"a:\n  string: 'one\n     two'\n",  # deeper indentation on a line
        b"a:\n  string: 'one\n    two\n  three'\n",  # shallower
        b"a:\n  string: 'one\n\ttwo'\n",  # a tab
        b"a:\n  string: 'one\n    \n    two'\n",  # a whitespace-only line
        b"a:\n  string: 'one\n    two\n    '\n",  # closing quote on its own line
        b"a:\n  string: 'it''s\n    ''quoted'''\n",  # escaped quotes across lines
        b"a:\n  string: 'one\n    two' # comment\n",  # not at the line end
        b"a:\n  string: 'one\n  two'\n",  # continuation not deeper than the key
        b"a:\n  string: 'one\n    two\n",  # never closed
        b"a:\n  string: 'one\n---\n    two'\n",  # a document marker inside
    ],
)
def test_odd_folded_quoted_strings_read_as_libyaml_reads_them(text: bytes) -> None:
    assert_same(text)


def test_the_folded_shape_is_lifted() -> None:
    text = b"a:\n  string: 'one\n    two\n\n    three ''x'''\nversion: 1\n"
    assert lifted_count(text) == 1
    assert load_yaml(text, YAML_LOADER, KEYS)["a"]["string"] == b"one two\nthree 'x'"
