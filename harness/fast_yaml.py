"""``yaml.load`` for cassettes, with the long text scalars lifted out before libyaml sees them.

A cassette is mostly one or two long strings: a response body in a literal block (``string: |+``)
and the chunk offsets in a one-line single-quoted scalar. libyaml reads them a character at a
time (~150-250 MB/s here); their values can be cut out with a few C-speed bytes operations
(``find``, one regex search, ``replace``) instead. ``load_yaml`` does that for every long scalar of
those two shapes, parses the small rest (the skeleton, with a unique placeholder where each scalar
was) with the same loader, and puts the values back into the node tree before construction.

The result is ``yaml.load(text, Loader=loader)``, except that a lifted string comes back as its
UTF-8 bytes: a cassette wants its bodies as bytes, and 10 MB decoded and encoded again cost more
than the rest of the lift. Anything this module is not sure to read exactly as libyaml does
sends the whole text to libyaml instead: tabs or whitespace-only lines where
indentation is expected, CR / NEL / LS / PS line breaks, characters the YAML reader rejects,
invalid UTF-8, a block running to the end of the file, or a placeholder that does not come back as
a plain value of a block mapping (a "header" that was really inside a quoted scalar, a flow
collection). Errors therefore always come from libyaml, about the original text.

Anchors and aliases read as libyaml reads them (one shared node, so one shared value), with two
limits checked on the node tree before anything is constructed, because what reads the data
afterwards walks it expanded: an alias inside the node it names (a recursive structure: no
recorder writes one, and every walk over it would loop) and aliases that add more than
``max_alias_nodes`` nodes to the document once expanded (a "billion laughs": a few hundred bytes
that expand to 10^9 nodes) each raise ``DocumentLimitError``.
"""

from __future__ import annotations

import mmap
import re
import secrets
from typing import Any, TypeAlias

import yaml

from .fast_quoted import multiline_single_quoted

Buffer: TypeAlias = "bytes | mmap.mmap"  # what the lift searches: both have find, rfind and slices

LIFT_MIN_BYTES = 2048  # shorter scalars cost libyaml less than lifting them
# Nodes that aliases may add to a document once expanded. A PyYAML dump shares a repeated object
# through an alias: a few nodes; a whole interaction reused, with the older chunk list written as
# a YAML sequence, three nodes per chunk (30,000 chunks for a 10 MB stream). Each added node costs
# a re-record or an import ~20 us to scrub, dump and read back: 100,000 cost ~2 s.
MAX_ALIAS_NODES = 100_000

_KEY_LINE = re.compile(rb" *[A-Za-z_][A-Za-z0-9_-]*")  # the line up to ": |" or ": '"
_BLOCK_INDICATORS = re.compile(rb"([1-9]?)([-+]?)")  # PyYAML writes the indentation digit first
# Bytes the YAML reader accepts, but for the line breaks this module leaves to libyaml (CR; NEL,
# LS and PS are checked after decoding). Bytes >= 0x80 are checked as UTF-8 after decoding.
_ACCEPTED_BYTES = bytes([9, 10, *range(0x20, 0x7F), *range(0x80, 0x100)])
_REJECTED_OR_SPECIAL = re.compile("[\x80-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_NOT_A_LINE_END = re.compile(rb"[^\n]")
_block_ends: dict[int, re.Pattern[bytes]] = {}


def _block_end(indent: int) -> re.Pattern[bytes]:
    """The line end after which a line is neither empty nor indented by ``indent`` spaces."""
    pattern = _block_ends.get(indent)
    if pattern is None:
        pattern = _block_ends[indent] = re.compile(rb"\n(?!\n| {%d})" % indent)
    return pattern


class DocumentLimitError(Exception):
    """A document refused before construction: recursive, or too many nodes with aliases expanded."""


class AliasLimitError(DocumentLimitError):
    """Aliases that add more than ``max_alias_nodes`` nodes once expanded."""


def load_yaml(
    text: Buffer, loader: type[Any], keys: frozenset[bytes], max_alias_nodes: int = MAX_ALIAS_NODES
) -> Any:
    """``yaml.load(text, Loader=loader)``, faster on documents with long text scalars under one of
    ``keys``, which come back as ``bytes`` (UTF-8) instead of ``str``. ``text`` may be a read-only
    ``mmap`` of the file: then only the lifted values and the skeleton are copied out of it.
    Raises ``DocumentLimitError`` for a recursive document or one whose aliases add more than
    ``max_alias_nodes`` nodes once expanded."""
    token = secrets.token_hex(8)
    skeleton, lifted = _lift(text, token, keys)
    if lifted:
        parser = loader(skeleton)
        try:
            node = parser.get_single_node()
            if node is not None and _put_back(node, lifted, token):
                alias_expansion(node, max_alias_nodes)
                return parser.construct_document(node)
        except yaml.YAMLError:
            pass  # the original text says what is wrong with it, below
        finally:
            parser.dispose()
    return _load_whole(text if isinstance(text, bytes) else text[:], loader, max_alias_nodes)


def _load_whole(text: bytes, loader: type[Any], max_alias_nodes: int) -> Any:
    """``yaml.load(text, Loader=loader)`` with the node tree checked before construction."""
    parser = loader(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        alias_expansion(node, max_alias_nodes)
        return parser.construct_document(node)
    finally:
        parser.dispose()


def alias_expansion(root: yaml.Node, max_alias_nodes: int) -> int:
    """The nodes that aliases add to the document under ``root`` once expanded: its node count with
    each alias replaced by a copy of what it names, less its distinct nodes (an aliased node is one
    object in several places of the tree). One pass over the distinct nodes; raises
    ``AliasLimitError`` as soon as the count passes ``max_alias_nodes``, ``DocumentLimitError``
    when a node contains itself."""
    sizes: dict[int, int] = {}  # the expanded size of each node met and finished, by id
    open_nodes: set[int] = set()  # the collection nodes on the path from the root: their ids
    added = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_nodes.discard(id(node))
            size = 1
            for child in _children(node):
                if isinstance(child, yaml.CollectionNode):
                    size += sizes[id(child)]  # finished before its parent
                elif id(child) in sizes:
                    added += 1  # an aliased scalar met again
                    size += 1
                else:
                    sizes[id(child)] = 1
                    size += 1
            sizes[id(node)] = size
        elif id(node) in sizes:
            added += sizes[id(node)]  # an alias: a copy of the whole node it names
        elif id(node) in open_nodes:
            raise DocumentLimitError(
                f"recursive alias: the node at line {node.start_mark.line + 1} contains itself"
            )
        elif isinstance(node, yaml.CollectionNode):
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend(
                (child, False) for child in _children(node) if isinstance(child, yaml.CollectionNode)
            )
        else:
            sizes[id(node)] = 1  # a scalar root
        if added > max_alias_nodes:
            raise AliasLimitError(
                f"aliases add more than {max_alias_nodes} YAML nodes once expanded"
                f" (at the node of line {node.start_mark.line + 1}): an alias bomb?"
            )
    return added


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _lift(text: Buffer, token: str, keys: frozenset[bytes]) -> tuple[bytes, list[bytes]]:
    """The text with each liftable long scalar replaced by ``"<token>-<n>"``, and their raw values
    (no text when nothing was lifted)."""
    pieces: list[bytes] = []
    lifted: list[bytes] = []
    copied = 0  # text[:copied] is in pieces
    # Each search stops at the next block header, so no byte of a block's content is searched twice.
    block = text.find(b": |")
    quoted = text.find(b": '", 0, block if block >= 0 else len(text))
    while block >= 0 or quoted >= 0:
        colon, reader = (quoted, _single_quoted) if quoted >= 0 else (block, _literal_block)
        line_start = text.rfind(b"\n", 0, colon) + 1
        found = None
        if _KEY_LINE.fullmatch(text, line_start, colon):
            key = text[line_start:colon].lstrip(b" ")
            if key in keys:
                found = reader(text, colon + 3, colon - line_start - len(key))
        if found is None:
            pos = colon + 2
        else:
            value, pos = found
            pieces += [text[copied : colon + 2], b'"%s-%d"' % (token.encode(), len(lifted))]
            lifted.append(value)
            copied = pos
        if 0 <= block < pos:
            block = text.find(b": |", pos)
        quoted = text.find(b": '", pos, block if block >= 0 else len(text))
    if not lifted:
        return b"", lifted
    pieces.append(text[copied:])
    return b"".join(pieces), lifted


def _literal_block(text: Buffer, start: int, parent_indent: int) -> tuple[bytes, int] | None:
    """A literal block scalar whose header ends at ``start`` (after the ``|``): its raw value and the
    offset of the line end that closes it, or None when libyaml must read it."""
    eol = text.find(b"\n", start)
    indicators = _BLOCK_INDICATORS.fullmatch(text, start, eol) if eol >= 0 else None
    if indicators is None:
        return None
    digit, chomping = indicators.group(1), indicators.group(2)
    if digit:
        indent = parent_indent + int(digit)
    else:  # the first line sets the indentation; leading empty lines are left to libyaml
        first = text[eol + 1 : eol + 1 + 1024]
        indent = len(first) - len(first.lstrip(b" "))
        if indent <= parent_indent or first[indent : indent + 1] in (b"\n", b"\t", b"\r", b""):
            return None
    found = _block_end(indent).search(text, eol)
    if found is None:
        return None
    end = found.start()
    after = text[end + 1 : end + 1 + indent].lstrip(b" ")[:1]
    if after in (b"\n", b"\t", b"\r") or (not after and end + 1 < len(text)):
        return None  # a whitespace-only line or a tab where indentation is expected
    if end - eol < LIFT_MIN_BYTES:
        return None
    # The lines with their line ends, less the first line's indentation: one replace of "\n" and
    # the indentation then gives the value as "keep" chomping reads it.
    indentation = b" " * indent
    if text[eol + 1 : eol + 1 + indent] == indentation:
        lines = text[eol + 1 + indent : end + 1]
        _release(text, eol, end)
        value = lines.replace(b"\n" + indentation, b"\n")
    else:  # the block opens with an empty line
        lines = text[eol : end + 1]
        _release(text, eol, end)
        value = lines.replace(b"\n" + indentation, b"\n")[1:]
    if lines.translate(None, _ACCEPTED_BYTES) or _NOT_A_LINE_END.search(value) is None:
        return None  # a character to leave to libyaml, or no content line at all
    if chomping != b"+" and value.endswith(b"\n\n"):
        value = value.rstrip(b"\n") + b"\n"  # "clip": one line end, however many empty lines
    return (value[:-1] if chomping == b"-" else value), end


def _release(text: Buffer, start: int, end: int) -> None:
    """Let the kernel drop the mapped pages of ``text[start:end]``, just copied out: else the file
    and the copies would all count in the process's memory at once (the 10 MB cassette's peak RSS
    was 2.9x the file, now ~2x). Reading them again pages them back in from the page cache."""
    if isinstance(text, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # whole pages inside the range only
        last = end // mmap.PAGESIZE * mmap.PAGESIZE
        if last > first:
            text.madvise(mmap.MADV_DONTNEED, first, last - first)


def _single_quoted(text: Buffer, start: int, parent_indent: int) -> tuple[bytes, int] | None:
    """A one-line single-quoted scalar opening at ``start``: its value and the offset of its line end."""
    eol = text.find(b"\n", start)
    if eol > start and text[eol - 1 : eol] != b"'":  # the scalar goes on: vcrpy's folded style
        return multiline_single_quoted(text, start, parent_indent)
    if eol <= start or eol - start < LIFT_MIN_BYTES or text[eol - 1 : eol] != b"'":
        return None
    raw = text[start : eol - 1]
    if raw.translate(None, _ACCEPTED_BYTES):
        return None
    if b"'" not in raw:
        return raw, eol
    if b"'" in raw.replace(b"''", b""):
        return None  # a lone quote: the scalar ends before the line does
    return raw.replace(b"''", b"'"), eol


def _reads_as_yaml(raw: bytes) -> bool:
    """The YAML reader would accept this UTF-8 (the ASCII control bytes were checked when lifted)."""
    if raw.isascii():
        return True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _REJECTED_OR_SPECIAL.search(text) is None


def _put_back(root: yaml.Node, lifted: list[bytes], token: str) -> bool:
    """Replace each placeholder in the node tree by its value; False unless each came back exactly
    once, as a double-quoted value of a block mapping, and is text libyaml would read. Each node is
    visited once: an aliased node is one object in several places, and may contain itself."""
    waiting = {f"{token}-{index}": value for index, value in enumerate(lifted)}
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                if (
                    isinstance(value, yaml.ScalarNode)
                    and isinstance(value.value, str)
                    and value.value.startswith(token)
                ):
                    raw = waiting.pop(value.value, None)
                    if raw is None or node.flow_style or value.style != '"' or not _reads_as_yaml(raw):
                        return False
                    value.value = raw  # constructed as is: bytes
                    seen.add(id(value))
                else:
                    stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) and token in node.value:
            return False  # a placeholder inside another scalar: its "header" was not one
    return not waiting
