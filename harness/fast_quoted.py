"""The multi-line single-quoted scalars vcrpy writes, read with bytes operations (for ``fast_yaml``).

vcrpy dumps a body with PyYAML's default style: single-quoted, folded at a space past column 80,
each line break of the value written as an empty line. libyaml reads such a scalar a character at
a time; a vcrpy-written cassette therefore loaded slower through us than through vcrpy. The value
comes back with three ``bytes.replace`` calls, when the scalar has exactly the shape PyYAML writes:

- every continuation line is indented by the same ``indent`` spaces (more than its key's) and
  starts with a character that is not a space; empty lines are empty;
- no tab, no space before a line break, nothing libyaml's reader would treat specially;
- the closing quote ends the line.

Then a fold (one line break, the indentation) is one space, and ``n + 1`` line breaks are ``n``
line breaks, as YAML's flow folding reads them; ``''`` is a quote. Anything else returns None and
libyaml reads the whole text, so errors and odd shapes keep libyaml's meaning.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fast_yaml import Buffer

# What a folded scalar may hold as is: printable ASCII, line feeds, bytes of UTF-8 sequences (checked
# as UTF-8 by fast_yaml); not tabs, which fold differently.
_FLOW_BYTES = bytes([10, *range(0x20, 0x7F), *range(0x80, 0x100)])
_bad_lines: dict[int, re.Pattern[bytes]] = {}


def _bad_line(indent: int) -> re.Pattern[bytes]:
    """A line end after a space, or not followed by an empty line or by exactly ``indent`` spaces
    and content (one search does both: a second pass for the space alone costs as much)."""
    pattern = _bad_lines.get(indent)
    if pattern is None:
        pattern = _bad_lines[indent] = re.compile(rb"\n(?<= \n)|\n(?!\n| {%d}[^ \n])" % indent)
    return pattern


_SPACES = re.compile(rb"\n* *")


def _closing_quote(text: Buffer, start: int) -> tuple[int, bool]:
    """The offset of the quote that ends a single-quoted scalar opened before ``start`` (or -1),
    and whether the scalar holds an escaped quote."""
    position = start
    while True:
        quote = text.find(b"'", position)
        if quote < 0 or text[quote + 1 : quote + 2] != b"'":
            return quote, position > start
        position = quote + 2  # '' is an escaped quote


def multiline_single_quoted(text: Buffer, start: int, parent_indent: int) -> tuple[bytes, int] | None:
    """A single-quoted scalar opening at ``start`` and running over several lines: its value and
    the offset of the line end after its closing quote, or None when libyaml must read it."""
    from .fast_yaml import LIFT_MIN_BYTES, _release

    end, escaped = _closing_quote(text, start)
    if end < 0 or end - start < LIFT_MIN_BYTES or text[end + 1 : end + 2] != b"\n":
        return None
    raw = text[start:end]
    first_break = raw.find(b"\n")
    if first_break < 0 or raw.translate(None, _FLOW_BYTES):
        return None
    lines = _SPACES.match(raw, first_break)  # the empty lines, then the first continuation's indentation
    indent = lines.end() - raw.rfind(b"\n", 0, lines.end()) - 1 if lines is not None else 0
    if indent <= parent_indent:
        return None
    if _bad_line(indent).search(text, start, end + 1) is not None:
        return None
    _release(text, start, end)  # the copy is what is read from here on (see fast_yaml._release)
    # split and join, not re.sub (~2x slower on 10 MB) nor two bytes.replace (~12 % slower: each
    # scans its input twice and builds a whole copy)
    indentation = b" " * indent
    fold = b"\n" + indentation
    value = b"\n".join([b" ".join(part.split(fold)) for part in raw.split(b"\n" + fold)])
    return (value.replace(b"''", b"'") if escaped else value), end + 1
