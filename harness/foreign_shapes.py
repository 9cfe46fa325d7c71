"""The cassette shapes other projects have on disk, read into the vcrpy version-1 data ``cassette.py`` parses.

vcrpy 9.4 reads all of these, so a team moving from vcrpy has them (REAL-STREAMS.md, section 4):

- vcrpy's JSON serializer (``.json``): the same data as the YAML, read with orjson;
- gzip-compressed files (``.yaml.gz``, as LangChain's persister writes them), recognised by the
  gzip magic bytes whatever the name; decompressed with a size cap;
- the httpx format of older vcrpy releases: ``response: {status_code, http_version, headers,
  content}`` instead of ``status`` / ``body`` (``normalized_response``);
- the python tags vcrpy's loader builds and that hold nothing but data: ``!!python/str``,
  ``!!python/unicode`` (a string), ``!!python/tuple`` (a list), ``!!python/object/new:_io.BytesIO``
  (its bytes), ``!!python/object/apply:builtins.iter`` (its items joined);
- beyond vcrpy, cassettes recorded through aiohttp, whose header names are
  ``multidict._multidict.istr`` objects (``!!python/object/apply:`` or ``!!python/object/new:``):
  read as plain strings.

Each tag is read by a constructor of its own on a subclass of the safe loader: no other tag is
known to it, so any other python object still fails to load ("could not determine a constructor"),
and nothing is ever imported or called to build one.
"""

from __future__ import annotations

import mmap
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..adapters.errors import CassetteError
from .fast_yaml import MAX_ALIAS_NODES, load_yaml

GZIP_MAGIC = b"\x1f\x8b"
MAX_DECOMPRESSED_BYTES = 1 << 30  # a gzip cassette larger than this once inflated is refused, not read
CASSETTE_PATTERNS = ("*.yaml", "*.yml", "*.json", "*.yaml.gz", "*.yml.gz", "*.json.gz")
_SUFFIXES = (".yaml.gz", ".yml.gz", ".json.gz", ".yaml", ".yml", ".json")
_TAG = "tag:yaml.org,2002:python/"


def cassette_files(root: Path) -> list[Path]:
    """The cassette files under ``root``, in every shape this module reads (snapshot folders and
    hidden files and folders, such as a writer's temp files, left out)."""
    found = {path for pattern in CASSETTE_PATTERNS for path in root.rglob(pattern) if path.is_file()}
    return sorted(
        path
        for path in found
        if not any(part == "__snapshots__" or part.startswith(".") for part in path.relative_to(root).parts)
    )


def cassette_stem(path: Path) -> Path:
    """``chat.yaml.gz`` -> ``chat``: the path without its cassette suffix."""
    for suffix in _SUFFIXES:
        if path.name.endswith(suffix):
            return path.with_name(path.name[: -len(suffix)])
    return path.with_suffix("")


def _string(loader: Any, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))


def _items(loader: Any, node: yaml.Node) -> list[Any]:
    """The arguments of a ``python/object`` node: a sequence, or a mapping's ``args`` (with ``state``)."""
    if isinstance(node, yaml.SequenceNode):
        return list(loader.construct_sequence(node, deep=True))
    if isinstance(node, yaml.MappingNode):
        mapping = loader.construct_mapping(node, deep=True)
        args = mapping.get("args")
        return list(args) if isinstance(args, list) else []
    return [loader.construct_scalar(node)]


def _bytes_io(loader: Any, node: yaml.Node) -> bytes:
    """``BytesIO`` as pickled: ``args: [initial bytes]`` or ``state: [bytes, position, dict]``."""
    if isinstance(node, yaml.MappingNode):
        mapping = loader.construct_mapping(node, deep=True)
        state = mapping.get("state")
        value = state[0] if isinstance(state, list) and state else (mapping.get("args") or [b""])[0]
    else:
        items = _items(loader, node)
        value = items[0] if items else b""
    return _as_bytes(value, "python/object/new:_io.BytesIO", node)


def _iterated(loader: Any, node: yaml.Node) -> bytes | str:
    """``iter(items)``: the items joined, as a request body sent as an iterable of chunks."""
    items = _items(loader, node)
    pieces = items[0] if items and isinstance(items[0], list) else items
    if all(isinstance(piece, str) for piece in pieces):
        return "".join(pieces)
    return b"".join(_as_bytes(piece, "python/object/apply:builtins.iter", node) for piece in pieces)


def _as_bytes(value: Any, tag: str, node: yaml.Node) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise yaml.constructor.ConstructorError(
        None, None, f"!!{tag} holds a {type(value).__name__}, expected bytes or a string", node.start_mark
    )


def _header_name(loader: Any, node: yaml.Node) -> str:
    items = _items(loader, node)
    if len(items) != 1 or not isinstance(items[0], str):
        raise yaml.constructor.ConstructorError(
            None, None, "a multidict istr holds one string, the header name", node.start_mark
        )
    return items[0]


_CONSTRUCTORS = {
    "str": _string,
    "unicode": _string,
    "tuple": lambda loader, node: list(loader.construct_sequence(node, deep=True)),
    "object/new:_io.BytesIO": _bytes_io,
    "object/apply:builtins.iter": _iterated,
    "object/apply:multidict._multidict.istr": _header_name,
    "object/new:multidict._multidict.istr": _header_name,
}
_loaders: dict[type[Any], type[Any]] = {}


def loader_for(base: type[Any]) -> type[Any]:
    """``base`` (a safe loader) that also reads the benign python tags above, and only those."""
    loader = _loaders.get(base)
    if loader is None:
        loader = type(f"Foreign{base.__name__}", (base,), {"yaml_constructors": dict(base.yaml_constructors)})
        for tag, constructor in _CONSTRUCTORS.items():
            loader.add_constructor(_TAG + tag, constructor)
        _loaders[base] = loader
    return loader


def _inflated(path: Path, data: bytes | mmap.mmap, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise CassetteError(path, f"gzip-compressed but does not decompress: {exc}") from None
    if len(out) > max_bytes:
        raise CassetteError(
            path,
            f"decompresses to more than {max_bytes} bytes, the limit"
            " (LoadLimits.cassette_bytes, STREAMPROOF_MAX_CASSETTE_BYTES)",
        )
    if not inflater.eof:
        raise CassetteError(path, "gzip-compressed but cut short (no end of stream)")
    return out


def read_document(
    path: Path,
    text: bytes | mmap.mmap,
    loader: type[Any],
    keys: frozenset[bytes],
    *,
    max_alias_nodes: int = MAX_ALIAS_NODES,
    max_bytes: int = MAX_DECOMPRESSED_BYTES,
) -> Any:
    """The cassette data in ``text``: gzip undone (at most ``max_bytes`` inflated), JSON read as
    JSON, YAML read by ``fast_yaml.load_yaml`` with ``loader_for(loader)``."""
    if text[:2] == GZIP_MAGIC:
        text = _inflated(path, text, max_bytes)
    is_json = path.name.removesuffix(".gz").endswith(".json")
    if is_json or text[:1] == b"{":  # JSON by name; or maybe, and then YAML (a flow mapping) if not
        try:
            return orjson.loads(text if isinstance(text, bytes) else text[:])
        except orjson.JSONDecodeError as exc:
            if is_json:
                raise CassetteError(path, f"not valid JSON: {exc}") from None
    return load_yaml(text, loader_for(loader), keys, max_alias_nodes=max_alias_nodes)


def normalized_response(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """Older vcrpy's httpx response (``status_code`` / ``content``) as the ``status`` / ``body`` shape."""
    if "status" in response or "status_code" not in response:
        return response
    return {
        "status": {"code": response["status_code"], "message": response.get("reason_phrase", "")},
        "headers": response.get("headers"),
        "body": {"string": response.get("content")},
    }
