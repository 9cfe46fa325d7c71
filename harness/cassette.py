"""Cassettes: vcrpy's YAML format (version 1), read into one normalized model.

Any vcrpy cassette loads: bodies stored as plain strings, as ``!!binary`` (gzip bytes with
``Content-Encoding: gzip``), or as pydantic-ai's ``parsed_body`` mapping (re-serialized as JSON;
the original bytes are gone). Bodies are decoded here, so ``RecordedResponse.body`` is always the
bytes a client would read after content decoding.

streamproof adds two keys that plain vcrpy ignores: a top-level ``streamproof`` mapping with the
cassette's metadata, and per response ``streamproof_chunks``: the byte offset where each network
chunk ended and when it arrived, in seconds from the request. ``save_cassette`` writes them as one
JSON string of two lists (``'{"ends":[357,714],"seconds":[0.012,0.03]}'``): a YAML sequence of
30,000 pairs takes ~1.6 s to load, the JSON string a few ms. The loader also reads lists of
``[end_offset, seconds]`` pairs (earlier cassettes), as a JSON string or a YAML sequence.

Loading goes through ``fast_yaml.load_yaml``: libyaml parses the structure while the long bodies
and chunk lists are cut out with bytes operations: a whole load, checks included, takes ~70 % of
the time of a bare libyaml load of the same file (``streamproof bench --only cassette_load``).

A cassette may come from anyone, so loading is bounded (``LoadLimits``): only regular files are
read (a FIFO or ``/dev/zero`` is refused before a byte is read), the file and all bodies together
are capped (``MAX_CASSETTE_BYTES``), each body after decompression too (``MAX_BODY_BYTES``, inflated
in steps so a gzip bomb stops at the cap), YAML aliases may not add more than ``MAX_ALIAS_NODES``
nodes once expanded nor contain themselves, and an aliased body is decoded once and shared by the interactions
that name it. Chunk times must be finite, from 0 to ``MAX_CHUNK_SECONDS``. Past any of these the
load is a ``CassetteError`` naming the file and the limit; each limit can be raised per call or
through its environment variable (``STREAMPROOF_MAX_BODY_BYTES`` ...).

``save_cassette`` is the only writer: it always scrubs (``scrub.Scrubber``, defaults included) and
replaces the file atomically, so a reader or a killed writer never sees half a cassette. A body
still compressed (a client's gzip request) is decoded first, so the scrubber sees what is stored; one
that cannot be decoded is refused (``CassetteError``), never written unscrubbed. The file keeps
the mode it had; a new one gets what the umask gives.
"""

from __future__ import annotations

import errno
import math
import mmap
import os
import secrets
import stat
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import orjson
import yaml

from ..adapters.errors import CassetteError
from ..adapters.formats import format_for_url, provider_for_url
from .fast_yaml import MAX_ALIAS_NODES, AliasLimitError, DocumentLimitError
from .foreign_shapes import normalized_response, read_document
from .rechunk import is_stream
from .scrub import Scrubber, rescale_chunks

try:
    _Loader: type[Any] = yaml.CSafeLoader
    _BaseDumper: type[Any] = yaml.CSafeDumper
    HAVE_LIBYAML = True
except AttributeError:  # PyYAML built without libyaml: ~100x slower (see ``streamproof bench``)
    _Loader = yaml.SafeLoader
    _BaseDumper = yaml.SafeDumper
    HAVE_LIBYAML = False

YAML_LOADER = _Loader  # the loader load_cassette uses (libyaml's when PyYAML has it)
# Where a cassette's long strings are (bodies, chunk offsets): load_yaml reads them as bytes.
_LONG_STRING_KEYS = frozenset({b"string", b"body", b"streamproof_chunks"})
_MAP_MIN_BYTES = 1 << 20
CASSETTE_FORMAT_VERSION = 1  # vcrpy's
SOURCES = ("live", "emulator", "imported")

# The load limits' defaults. The longest real streams are a few MB (a 100k-token answer is ~30 MB
# of SSE); a bundled cassette is under 100 KB.
MAX_BODY_BYTES = 128 << 20  # one body, after content decoding
MAX_CASSETTE_BYTES = 512 << 20  # the file, and all bodies together (an aliased one where it appears)
MAX_CHUNK_SECONDS = 24 * 3600.0  # a chunk's arrival, in seconds since the request: a day at most


@dataclass(frozen=True)
class LoadLimits:
    """What one cassette may hold; past any of it ``load_cassette`` raises a ``CassetteError``
        that names the limit. ``from_environment`` reads ``STREAMPROOF_MAX_BODY_BYTES``,
        ``STREAMPROOF_MAX_CASSETTE_BYTES`` and ``STREAMPROOF_MAX_ALIAS_NODES`` over the defaults
    (``MAX_ALIAS_NODES`` is ``fast_yaml``'s)."""

    body_bytes: int = MAX_BODY_BYTES
    cassette_bytes: int = MAX_CASSETTE_BYTES
    alias_nodes: int = MAX_ALIAS_NODES

    @classmethod
    def from_environment(cls) -> LoadLimits:
        return cls(
            body_bytes=_limit_from_environment("STREAMPROOF_MAX_BODY_BYTES", MAX_BODY_BYTES),
            cassette_bytes=_limit_from_environment("STREAMPROOF_MAX_CASSETTE_BYTES", MAX_CASSETTE_BYTES),
            alias_nodes=_limit_from_environment("STREAMPROOF_MAX_ALIAS_NODES", MAX_ALIAS_NODES),
        )


def _limit_from_environment(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise CassetteError(f"<environment {name}>", f"must be a positive integer, got {raw!r}")
    return int(raw)


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only headers; a repeated header reads as its last value."""

    def __init__(self, raw: Mapping[str, Any] | None = None) -> None:
        self.raw: dict[str, list[str]] = {}
        for name, value in (raw or {}).items():
            values = value if isinstance(value, list) else [value]
            self.raw[str(name)] = [str(v) for v in values]
        self._lower = {k.lower(): v[-1] for k, v in self.raw.items() if v}

    def __getitem__(self, name: str) -> str:
        return self._lower[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lower)

    def __len__(self) -> int:
        return len(self._lower)


@dataclass
class RecordedRequest:
    method: str
    uri: str
    headers: Headers
    body: bytes | None

    @property
    def host(self) -> str:
        return urlsplit(self.uri).hostname or ""

    @property
    def path(self) -> str:
        return urlsplit(self.uri).path

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


@dataclass
class RecordedResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes
    chunks: list[tuple[int, float]] | None = None  # (end offset, seconds since request) per chunk

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def is_sse(self) -> bool:
        return self.content_type == "text/event-stream"

    @property
    def streamed(self) -> bool:
        """Whether the body is a stream of frames in its content type's framing (SSE, ...)."""
        return is_stream(self.content_type)


@dataclass
class Interaction:
    index: int
    request: RecordedRequest
    response: RecordedResponse

    @property
    def api(self) -> str:
        fmt = format_for_url(self.request.host, self.request.path)
        return fmt.api if fmt is not None else "other"

    @property
    def provider(self) -> str:
        return provider_for_url(self.request.host, self.request.path)

    @property
    def wire_format(self) -> str | None:
        """The name of the interaction's wire format (the key of every layer's registry), by the
        URL rules of ``adapters.formats``; None for api ``other``."""
        fmt = format_for_url(self.request.host, self.request.path)
        return fmt.name if fmt is not None else None


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction]
    metadata: dict[str, Any] = field(default_factory=dict)


def api_for_path(path: str) -> str:
    """``chat`` / ``responses`` / ``messages`` / ``other``, from the request path (the URL rule of
    ``adapters.formats``, on a host that does not narrow it)."""
    fmt = format_for_url("", path)
    return fmt.api if fmt is not None else "other"


def _body_bytes(body: Any, where: str, path: Path) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if isinstance(body, Mapping):
        if "string" in body:
            return _body_bytes(body["string"], where, path)
        raise CassetteError(path, f"{where}: body mapping has no 'string' key")
    raise CassetteError(path, f"{where}: body is a {type(body).__name__}, expected a string or bytes")


class _TooLarge(Exception):
    """A body that inflates past its limit."""


_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}  # gzip framing; zlib framing


_INFLATE_STEP = 1 << 20  # output bytes per step: zlib's buffer for one call briefly holds 2x


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """``gzip.decompress`` / ``zlib.decompress`` of ``body`` in steps of ``_INFLATE_STEP`` bytes of
    output, raising ``_TooLarge`` as soon as the output passes ``limit`` (a few MB of zeros
    inflate to GBs). gzip may hold several members, as ``gzip.decompress`` reads them."""
    pieces: list[bytes] = []
    total = 0
    data = body
    while data:
        inflater = zlib.decompressobj(_WBITS[encoding])
        while True:
            piece = inflater.decompress(data, min(_INFLATE_STEP, limit - total + 1))
            total += len(piece)
            if total > limit:
                raise _TooLarge
            pieces.append(piece)
            data = inflater.unconsumed_tail
            if inflater.eof or not (data or piece):
                break
        if not inflater.eof:
            raise EOFError("compressed data ended before the end-of-stream marker was reached")
        if encoding != "gzip":
            break
        data = inflater.unused_data.lstrip(b"\x00")  # the next member; gzip.decompress skips padding
    return b"".join(pieces)


def _decode(
    body: bytes, headers: Headers, where: str, path: Path, budget: _LoadBudget | None = None
) -> tuple[bytes, Headers]:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body, headers
    if encoding not in _WBITS:
        raise CassetteError(path, f"{where}: unsupported content-encoding {encoding!r}")
    budget = budget or _LoadBudget(path, LoadLimits.from_environment())
    limit = budget.limits.body_bytes
    try:
        decoded = budget.shared(body, encoding, lambda: _inflate(body, encoding, limit))
    except _TooLarge:
        raise CassetteError(
            path,
            f"{where}: body decompresses to more than {limit} bytes, the limit"
            " (LoadLimits.body_bytes, STREAMPROOF_MAX_BODY_BYTES)",
        ) from None
    except (zlib.error, EOFError) as exc:
        if not body[:2] == b"\x1f\x8b":  # recorded already decoded but kept the header
            return body, headers
        raise CassetteError(path, f"{where}: body says {encoding} but does not decompress: {exc}") from None
    raw = {k: v for k, v in headers.raw.items() if k.lower() not in ("content-encoding", "content-length")}
    return decoded, Headers(raw)


def _headers(raw: Any, where: str, path: Path) -> Headers:
    if raw is not None and not isinstance(raw, Mapping):
        raise CassetteError(path, f"{where}: headers are a {type(raw).__name__}, expected a mapping")
    return Headers(raw)


def _chunks(raw: Any, body_length: int, where: str, path: Path) -> list[tuple[int, float]] | None:
    """``streamproof_chunks`` as (end offset, seconds) pairs, checked: written as one JSON object of
    two flat lists (``{"ends": [...], "seconds": [...]}``, the quickest to read); older cassettes
    and hand-written ones may hold a list of pairs, as a JSON string or a YAML sequence. Times are
    finite, from 0 to ``MAX_CHUNK_SECONDS`` (replay sleeps until them; YAML reads ``.inf`` and
    ``.nan``, JSON ``1e400`` as infinity)."""
    if not raw:
        return None
    if isinstance(raw, (str, bytes)):  # bytes: a long string, as load_yaml returns it
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CassetteError(path, f"{where}: streamproof_chunks is not valid JSON: {exc}") from None
    problem = f"{where}: streamproof_chunks"
    if isinstance(raw, dict):
        ends, times = raw.get("ends"), raw.get("seconds")
        if not isinstance(ends, list) or not isinstance(times, list) or len(ends) != len(times):
            raise CassetteError(path, f"{problem} needs two lists of the same length, 'ends' and 'seconds'")
    elif isinstance(raw, list):
        try:
            ends, times = (list(column) for column in zip(*raw, strict=True)) if raw else ([], [])
        except (TypeError, ValueError):
            bad = next(item for item in raw if not (isinstance(item, list) and len(item) == 2))
            raise CassetteError(path, f"{problem} entry {bad!r} is not [end_offset, seconds]") from None
    else:
        raise CassetteError(path, f"{problem} is a {type(raw).__name__}, expected an object or a list")
    # Whole-list passes in C instead of a Python loop per entry: a long stream has tens of thousands.
    time_types = set(map(type, times))
    if not set(map(type, ends)) <= {int} or not time_types <= {int, float}:
        at = next(
            i
            for i, (end, t) in enumerate(zip(ends, times, strict=True))
            if type(end) is not int or type(t) not in (int, float)
        )
        raise CassetteError(
            path, f"{problem} entry {at} {[ends[at], times[at]]!r} is not [end_offset, seconds]"
        )
    _check_times(times, problem, path)
    if ends != sorted(ends) or times != sorted(times):  # one C pass each on sorted input
        at = next(i for i in range(1, len(ends)) if ends[i] < ends[i - 1] or times[i] < times[i - 1])
        raise CassetteError(path, f"{problem} not monotonic at entry {at} {[ends[at], times[at]]}")
    if ends and ends[0] < 0:
        raise CassetteError(path, f"{problem} offset {ends[0]} is negative")
    if ends and ends[-1] > body_length:
        raise CassetteError(path, f"{problem} offset {ends[-1]} is past the body ({body_length} bytes)")
    return list(zip(ends, times if time_types <= {float} else map(float, times), strict=True))


def _check_times(times: list[int | float], problem: str, path: Path) -> None:
    """Each time finite and in [0, MAX_CHUNK_SECONDS]. NaN compares false both ways, so the
    monotonic check after this one cannot see it; a NaN or an infinity makes the sum non-finite
    instead (one C pass over floats). Then the ends suffice: unsorted times fail the next check."""
    try:
        finite = math.isfinite(sum(times))
    except OverflowError:  # an int too large for a float
        finite = False
    if finite and (not times or (0 <= times[0] and times[-1] <= MAX_CHUNK_SECONDS)):
        return
    at = next(i for i, t in enumerate(times) if not 0 <= t <= MAX_CHUNK_SECONDS)
    raise CassetteError(
        path,
        f"{problem} entry {at} time {times[at]!r} is not a number of seconds from 0 to {MAX_CHUNK_SECONDS:g}",
    )


class _LoadBudget:
    """One load's limits and what it has read: a value that YAML aliases put in several
    interactions is one object there, and is decoded once and shared (``shared``); every
    interaction's bodies count toward the cassette's total where they appear (``count``), as the
    readers after us (replay, check, a re-record) walk each of them."""

    def __init__(self, path: Path, limits: LoadLimits) -> None:
        self.path = path
        self.limits = limits
        self.total = 0
        self._made: dict[tuple[int, str], tuple[object, Any]] = {}

    def shared(self, source: object, how: str, make: Callable[[], Any]) -> Any:
        """``make()``, once per ``source`` object and ``how``."""
        key = (id(source), how)
        found = self._made.get(key)
        if found is None:  # keeps source alive, so its id names it for the whole load
            found = self._made[key] = (source, make())
        return found[1]

    def count(self, size: int, where: str) -> None:
        if size > self.limits.body_bytes:
            raise CassetteError(
                self.path,
                f"{where}: body of {size} bytes, more than the limit of {self.limits.body_bytes}"
                " (LoadLimits.body_bytes, STREAMPROOF_MAX_BODY_BYTES)",
            )
        self.total += size
        if self.total > self.limits.cassette_bytes:
            raise CassetteError(
                self.path,
                f"{where}: the bodies so far total more than {self.limits.cassette_bytes} bytes, the limit"
                " (LoadLimits.cassette_bytes, STREAMPROOF_MAX_CASSETTE_BYTES)",
            )


def parse_interaction(index: int, raw: Any, path: Path, budget: _LoadBudget | None = None) -> Interaction:
    where = f"interaction {index}"
    budget = budget or _LoadBudget(path, LoadLimits.from_environment())
    if not isinstance(raw, Mapping) or "request" not in raw or "response" not in raw:
        raise CassetteError(path, f"{where}: expected a mapping with 'request' and 'response'")
    req, resp = raw["request"], raw["response"]
    resp = normalized_response(resp) if isinstance(resp, Mapping) else resp  # older vcrpy's httpx shape
    if not isinstance(req, Mapping) or not isinstance(resp, Mapping):
        raise CassetteError(path, f"{where}: 'request' and 'response' must be mappings")
    try:
        if "parsed_body" in req:
            req_body: bytes | None = budget.shared(
                req["parsed_body"], "json", lambda: orjson.dumps(req["parsed_body"])
            )
        else:
            req_body = budget.shared(
                req.get("body"), "bytes", lambda: _body_bytes(req.get("body"), f"{where} request", path)
            )
        budget.count(len(req_body or b""), f"{where} request")
        status = resp.get("status") or {}
        code = status.get("code") if isinstance(status, Mapping) else status
        if not isinstance(code, int):
            raise CassetteError(path, f"{where}: response status code missing or not an integer")
        headers = _headers(resp.get("headers"), f"{where} response", path)
        if "parsed_body" in resp:
            body = budget.shared(resp["parsed_body"], "json", lambda: orjson.dumps(resp["parsed_body"]))
        else:
            raw_body = resp.get("body")
            body = (
                budget.shared(raw_body, "bytes", lambda: _body_bytes(raw_body, f"{where} response", path))
                or b""
            )
            body, headers = _decode(body, headers, f"{where} response", path, budget)
        budget.count(len(body), f"{where} response")
        raw_chunks = resp.get("streamproof_chunks")
        parsed_chunks = budget.shared(
            raw_chunks, f"chunks of {len(body)}", lambda: _chunks(raw_chunks, len(body), where, path)
        )
        uri = req.get("uri")
        if not isinstance(uri, str) or not uri:
            raise CassetteError(path, f"{where}: request 'uri' missing or not a string")
        return Interaction(
            index=index,
            request=RecordedRequest(
                method=str(req.get("method", "GET")).upper(),
                uri=uri,
                headers=_headers(req.get("headers"), f"{where} request", path),
                body=req_body,
            ),
            response=RecordedResponse(
                status=code,
                reason=str(status.get("message", "")) if isinstance(status, Mapping) else "",
                headers=headers,
                body=body,
                chunks=parsed_chunks,
            ),
        )
    except CassetteError:
        raise
    except (TypeError, ValueError, orjson.JSONEncodeError) as exc:
        raise CassetteError(path, f"{where}: {exc}") from None


def _mapped(file: BinaryIO) -> bytes | mmap.mmap:
    """A large file mapped into memory, already paged in (MAP_POPULATE): no copy of it is made,
    and the page cache is mapped in one call instead of a page fault per 4 KB of a fresh buffer
    (half the load time of a 10 MB cassette on this machine kind went to those faults)."""
    size = os.fstat(file.fileno()).st_size
    if size < _MAP_MIN_BYTES or not hasattr(mmap, "MAP_SHARED"):  # small, or not POSIX
        return file.read(size)  # what the file held when opened, if it grows meanwhile
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    return mmap.mmap(file.fileno(), size, flags=flags, prot=mmap.PROT_READ)


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(info: os.stat_result, path: Path, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _FILE_KINDS if test(info.st_mode)), "not a file")
        raise CassetteError(path, f"cannot read: {kind}, not a regular file")
    if info.st_size > limit:
        raise CassetteError(
            path,
            f"file of {info.st_size} bytes, more than the limit of {limit}"
            " (LoadLimits.cassette_bytes, STREAMPROOF_MAX_CASSETTE_BYTES)",
        )


@contextmanager
def _file_bytes(path: Path, limits: LoadLimits) -> Iterator[bytes | mmap.mmap]:
    """The bytes of the regular file at ``path`` (symlinks followed), mapped when large; every
    reader of a cassette file goes through here. A FIFO or a device (``/dev/zero``) is refused
    from its ``stat`` before it is opened, and again from the opened file (non-blocking, so a
    FIFO swapped in meanwhile cannot hang the open)."""
    try:
        _check_regular(path.stat(), path, limits.cassette_bytes)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise CassetteError(path, f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as file:
        try:
            _check_regular(os.fstat(fd), path, limits.cassette_bytes)
            text = _mapped(file)
        except OSError as exc:
            raise CassetteError(path, f"cannot read: {exc.strerror or exc}") from None
        try:
            yield text
        finally:
            if isinstance(text, mmap.mmap):
                text.close()


def _yaml_data(text: bytes | mmap.mmap, path: Path, limits: LoadLimits) -> Any:
    """The YAML document in ``text``, with cassettes' long strings as bytes (``fast_yaml``)."""
    try:
        return read_document(  # YAML through fast_yaml; also JSON, gzip and benign python tags
            path,
            text,
            _Loader,
            _LONG_STRING_KEYS,
            max_alias_nodes=limits.alias_nodes,
            max_bytes=limits.cassette_bytes,
        )
    except yaml.YAMLError as exc:
        raise CassetteError(path, f"not valid YAML: {exc}") from None
    except AliasLimitError as exc:
        raise CassetteError(path, f"{exc} (LoadLimits.alias_nodes, STREAMPROOF_MAX_ALIAS_NODES)") from None
    except DocumentLimitError as exc:
        raise CassetteError(path, str(exc)) from None


def load_cassette(path: str | Path, *, limits: LoadLimits | None = None) -> Cassette:
    """The cassette at ``path``, checked and bounded by ``limits`` (by default the module's
    constants, or the environment's ``STREAMPROOF_MAX_*``); any problem is a ``CassetteError``."""
    path = Path(path)
    limits = limits or LoadLimits.from_environment()
    with _file_bytes(path, limits) as text:
        data = _yaml_data(text, path, limits)
    return cassette_from_data(data, path, limits)


def cassette_from_data(data: Any, path: Path, limits: LoadLimits | None = None) -> Cassette:
    """The cassette that a reader of the file's format made of it: vcrpy's mapping of
    ``interactions`` and ``version`` (and our ``streamproof`` metadata)."""
    budget = _LoadBudget(path, limits or LoadLimits.from_environment())
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise CassetteError(path, "not a vcrpy cassette: no 'interactions' list")
    if "version" not in data:  # vcrpy writes it last (and we too), so a cut file has none
        raise CassetteError(path, "no 'version' key: the file is truncated or not a vcrpy cassette")
    if data["version"] != CASSETTE_FORMAT_VERSION:
        raise CassetteError(path, f"cassette format version {data['version']!r}, only 1 is supported")
    interactions = [parse_interaction(i, raw, path, budget) for i, raw in enumerate(data["interactions"])]
    meta = data.get("streamproof")
    return Cassette(
        path=path, interactions=interactions, metadata=dict(meta) if isinstance(meta, Mapping) else {}
    )


# -- writing ----------------------------------------------------------------------------------


def new_metadata(
    *,
    source: str,
    provider: str | None = None,
    api: str | None = None,
    scenario: str | None = None,
    model: str | None = None,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``streamproof`` mapping of a cassette recorded now: who recorded it, from where, with what."""
    if source not in SOURCES:
        raise CassetteError("<metadata>", f"source must be one of {SOURCES}, got {source!r}")
    return {
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "provider": provider,
        "api": api,
        "scenario": scenario,
        "model": model,
        "sdk_versions": _sdk_versions(),
        "usage": dict(usage) if usage is not None else None,
    }


def _sdk_versions() -> dict[str, str]:
    versions = {}
    for package in ("streamproof", "openai", "anthropic", "httpx2", "httpx"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _make_dumper(base: type[Any]) -> type[Any]:
    """A YAML writer on ``base``. Multi-line text goes in a literal block (``|``): readable, and
    the quickest style for libyaml to load (the emitter falls back to double quotes where a block
    cannot hold the text). The pure-Python emitter folds NEL/LS/PS inside quoted scalars into
    spaces, so text holding them is written double-quoted, where they are escaped."""

    def represent_str(dumper: Any, text: str) -> Any:
        if "\x85" in text or "\u2028" in text or "\u2029" in text:
            style: str | None = '"'
        else:
            style = "|" if "\n" in text else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)

    dumper: Any = type(f"Streamproof{base.__name__}", (base,), {})
    dumper.add_representer(str, represent_str)
    return dumper  # type: ignore[no-any-return]


_Dumper = _make_dumper(_BaseDumper)


def _body_value(body: bytes | None) -> str | bytes | None:
    """Valid UTF-8 is stored as text (readable, what vcrpy does); anything else as ``!!binary``."""
    if body is None:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _response_headers(headers: dict[str, list[str]], body_length: int) -> dict[str, list[str]]:
    """The stored body is whole: no transfer-encoding, a true content-length. (Bodies in the model
    are decoded and carry no content-encoding; one that could not be decoded keeps its header, so
    loading it fails clearly instead of serving encoded bytes.)"""
    kept = {k: v for k, v in headers.items() if k.lower() != "transfer-encoding"}
    for name in kept:
        if name.lower() == "content-length":
            kept[name] = [str(body_length)]
    return kept


def _interaction_dict(interaction: Interaction, scrubber: Scrubber, path: Path) -> dict[str, Any]:
    request, response = interaction.request, interaction.response
    where = f"interaction {interaction.index}"
    request_headers = request.headers.raw
    request_body = request.body
    if request_body is not None:
        request_body, request_headers = _plain_body(request_body, request_headers, f"{where} request", path)
        request_body = scrubber.scrub_bytes(request_body)
    response_body, response_headers = _plain_body(
        response.body, response.headers.raw, f"{where} response", path
    )
    chunks = response.chunks
    if chunks and len(response_body) != len(response.body):  # decoded here: offsets of the encoded bytes
        chunks = rescale_chunks(chunks, len(response.body), len(response_body))
    body, chunks = scrubber.scrub_body(response_body, chunks)
    response_dict: dict[str, Any] = {
        "status": {"code": response.status, "message": scrubber.scrub_text(response.reason)},
        "headers": _response_headers(scrubber.scrub_headers(response_headers), len(body)),
        "body": {"string": _body_value(body)},
    }
    chunks = _covering(chunks, len(body))
    if chunks:
        ends = [end for end, _ in chunks]
        seconds = [round(t, 6) for _, t in chunks]
        response_dict["streamproof_chunks"] = orjson.dumps({"ends": ends, "seconds": seconds}).decode()
    return {
        "request": {
            "body": _body_value(request_body),
            "headers": scrubber.scrub_headers(request_headers),
            "method": request.method,
            "uri": scrubber.scrub_uri(request.uri),
        },
        "response": response_dict,
    }


def _decompressed(encoding: str, body: bytes, where: str, path: Path) -> bytes | str:
    """``body`` with one content encoding undone, or why it cannot be (a string). The load limit
    on a decoded body applies (a small compressed body may unpack to gigabytes)."""
    limit = LoadLimits.from_environment().body_bytes
    if encoding in ("gzip", "x-gzip", "deflate"):
        # deflate: zlib-wrapped as the RFC says, else raw deflate as some servers send it
        framings = ("gzip",) if encoding != "deflate" else ("deflate", "raw")
        problem = ""
        for framing in framings:
            try:
                if framing == "raw":
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    decoded = inflater.decompress(body, limit + 1)
                    if len(decoded) > limit:
                        raise _TooLarge
                    if not inflater.eof:
                        raise EOFError("compressed data ended before the end-of-stream marker")
                    return decoded
                return _inflate(body, framing, limit)
            except _TooLarge:
                raise CassetteError(
                    path,
                    f"{where}: {encoding} body unpacks past {limit} bytes (STREAMPROOF_MAX_BODY_BYTES); not written",
                ) from None
            except (zlib.error, EOFError) as exc:
                problem = problem or f"{encoding} body does not decompress ({exc})"
        return problem
    if encoding == "br":
        try:
            import brotli  # type: ignore[import-not-found,unused-ignore]  # optional: only for br bodies
        except ImportError:
            return "br (brotli) body, and the brotli package that would decode it is not installed"
        try:
            return brotli.decompress(body)  # type: ignore[no-any-return,unused-ignore]
        except brotli.error as exc:
            return f"br body does not decompress ({exc})"
    return f"content-encoding {encoding!r} cannot be decoded"


def _plain_body(
    body: bytes, headers: dict[str, list[str]], where: str, path: Path
) -> tuple[bytes, dict[str, list[str]]]:
    """The body with its content encodings undone (the last applied first) and its headers without
    them, so the scrubber sees (and the cassette keeps) the bytes a reader gets. Bodies in the
    model are decoded already, but a client may send a compressed request, and a body recorded
    decoded may have kept its header (then it is valid UTF-8, which compressed bytes never are).
    What cannot be decoded cannot be scrubbed: it is not written (CassetteError)."""
    encodings = [
        value.strip().lower()
        for name, values in headers.items()
        if name.lower() == "content-encoding"
        for header in values
        for value in header.split(",")
        if value.strip().lower() not in ("", "identity")
    ]
    if not encodings:
        return body, headers
    for encoding in reversed(encodings):
        decoded = _decompressed(encoding, body, where, path)
        if isinstance(decoded, str):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                raise CassetteError(
                    path, f"{where}: {decoded}; it cannot be scrubbed, so it is not written"
                ) from None
            break  # already plain text
        body = decoded
    kept = {k: v for k, v in headers.items() if k.lower() != "content-encoding"}
    for name in kept:
        if name.lower() == "content-length":
            kept[name] = [str(len(body))]
    return body, kept


def _covering(chunks: list[tuple[int, float]] | None, length: int) -> list[tuple[int, float]] | None:
    """Chunk ends that cover exactly ``length`` bytes, for a body edited after it was recorded:
    ends past the body go, and bytes past the last end arrive with the last chunk."""
    if not chunks:
        return chunks
    kept = [(end, t) for end, t in chunks if end < length]
    return [*kept, (length, chunks[-1][1])] if length else kept


def _scrub_metadata(value: Any, scrubber: Scrubber) -> Any:
    """Every string in the metadata, keys too, and bytes (``!!binary``) as well, scrubbed."""
    if isinstance(value, str):
        return scrubber.scrub_text(value)
    if isinstance(value, bytes):
        return _body_value(scrubber.scrub_bytes(value))
    if isinstance(value, Mapping):
        return {_metadata_key(k, scrubber): _scrub_metadata(v, scrubber) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_metadata(v, scrubber) for v in value]
    return value


def _metadata_key(key: Any, scrubber: Scrubber) -> str:
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    return scrubber.scrub_text(text)


def dump_cassette(cassette: Cassette, scrubber: Scrubber | None = None) -> bytes:
    """The scrubbed YAML text of ``cassette`` (what ``save_cassette`` writes)."""
    scrubber = scrubber or Scrubber()
    data: dict[str, Any] = {}
    if cassette.metadata:
        data["streamproof"] = _scrub_metadata(cassette.metadata, scrubber)
    data["interactions"] = [
        _interaction_dict(interaction, scrubber, cassette.path) for interaction in cassette.interactions
    ]
    data["version"] = CASSETTE_FORMAT_VERSION  # last: a truncated file has no version (see load_cassette)
    text: str = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=2**31 - 1)
    return text.encode("utf-8")


def save_cassette(path: str | Path, cassette: Cassette, scrubber: Scrubber | None = None) -> None:
    """Scrub and write ``cassette`` to ``path`` atomically: a temp file in the same directory,
    fsync, then ``os.replace`` (a crash leaves the previous file or the new one, never a mix)."""
    path = Path(path)
    data = dump_cassette(cassette, scrubber)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = _temp_file(path)
    except OSError as exc:
        raise CassetteError(path, f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException as exc:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise CassetteError(path, f"cannot write: {exc.strerror or exc}") from None
        raise
    _fsync_directory(path.parent)


def _temp_file(path: Path) -> tuple[int, str]:
    """A new temp file beside ``path`` with the mode the cassette should keep: the existing file's,
    or for a new file what the umask gives (``mkstemp`` would make every cassette 0600)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        if mode is not None:
            try:
                os.fchmod(fd, mode)
            except BaseException:
                os.close(fd)
                Path(name).unlink(missing_ok=True)
                raise
        return fd, name
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(path.parent))


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def import_cassette(src: str | Path, dst: str | Path, scrubber: Scrubber | None = None) -> Cassette:
    """Load any vcrpy cassette and save it as ours (scrubbed, ``source: imported``)."""
    foreign = load_cassette(src)
    metadata = {**foreign.metadata, **new_metadata(source="imported")}
    metadata["imported_from"] = Path(src).name
    first = foreign.interactions[0] if foreign.interactions else None
    if first is not None:
        metadata["provider"] = metadata.get("provider") or first.provider
        metadata["api"] = metadata.get("api") or first.api
        request_json = first.request.json()
        if metadata.get("model") is None and isinstance(request_json, dict):
            metadata["model"] = request_json.get("model")
    imported = Cassette(path=Path(dst), interactions=foreign.interactions, metadata=metadata)
    save_cassette(dst, imported, scrubber)
    return load_cassette(dst)
