"""Cassettes: vcrpy's YAML format (version 1), read into one normalized model.

Any vcrpy cassette loads: bodies stored as plain strings, as ``!!binary`` (gzip bytes with
``Content-Encoding: gzip``), or as pydantic-ai's ``parsed_body`` mapping (re-serialized as JSON;
the original bytes are gone). Bodies are decoded here, so ``RecordedResponse.body`` is always the
bytes a client would read after content decoding.

streamproof adds two keys that plain vcrpy ignores: a top-level ``streamproof`` mapping with the
cassette's metadata, and per response ``streamproof_chunks``: ``[[end_offset, seconds], ...]``, the
byte offset where each network chunk ended and when it arrived, counted from the request.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml

from ..adapters.errors import CassetteError

try:
    _Loader: type[Any] = yaml.CSafeLoader
    HAVE_LIBYAML = True
except AttributeError:  # PyYAML built without libyaml: ~100x slower (see ``streamproof bench``)
    _Loader = yaml.SafeLoader
    HAVE_LIBYAML = False


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


@dataclass
class Interaction:
    index: int
    request: RecordedRequest
    response: RecordedResponse

    @property
    def api(self) -> str:
        return api_for_path(self.request.path)

    @property
    def provider(self) -> str:
        return provider_for_host(self.request.host, self.api)


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction]
    metadata: dict[str, Any] = field(default_factory=dict)


def api_for_path(path: str) -> str:
    """``chat`` / ``responses`` / ``messages`` / ``other``, from the request path."""
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/messages"):
        return "messages"
    parts = path.split("/")
    if parts[-1] == "responses" or (len(parts) >= 2 and parts[-2] == "responses" and parts[-1].startswith("resp")):
        return "responses"
    return "other"


def provider_for_host(host: str, api: str) -> str:
    if host.endswith("openai.com"):
        return "openai"
    if host.endswith("anthropic.com"):
        return "anthropic"
    if host in ("localhost", "127.0.0.1", "::1", ""):
        return {"messages": "anthropic", "chat": "openai", "responses": "openai"}.get(api, host or "unknown")
    return host


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


def _decode(body: bytes, headers: Headers, where: str, path: Path) -> tuple[bytes, Headers]:
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body, headers
    try:
        if encoding == "gzip":
            decoded = gzip.decompress(body)
        elif encoding == "deflate":
            decoded = zlib.decompress(body)
        else:
            raise CassetteError(path, f"{where}: unsupported content-encoding {encoding!r}")
    except (OSError, zlib.error, EOFError) as exc:
        if not body[:2] == b"\x1f\x8b":  # recorded already decoded but kept the header
            return body, headers
        raise CassetteError(path, f"{where}: body says {encoding} but does not decompress: {exc}") from None
    raw = {k: v for k, v in headers.raw.items() if k.lower() not in ("content-encoding", "content-length")}
    return decoded, Headers(raw)


def parse_interaction(index: int, raw: Any, path: Path) -> Interaction:
    where = f"interaction {index}"
    if not isinstance(raw, Mapping) or "request" not in raw or "response" not in raw:
        raise CassetteError(path, f"{where}: expected a mapping with 'request' and 'response'")
    req, resp = raw["request"], raw["response"]
    if not isinstance(req, Mapping) or not isinstance(resp, Mapping):
        raise CassetteError(path, f"{where}: 'request' and 'response' must be mappings")
    try:
        if "parsed_body" in req:
            req_body: bytes | None = orjson.dumps(req["parsed_body"])
        else:
            req_body = _body_bytes(req.get("body"), f"{where} request", path)
        status = resp.get("status") or {}
        code = status.get("code") if isinstance(status, Mapping) else status
        if not isinstance(code, int):
            raise CassetteError(path, f"{where}: response status code missing or not an integer")
        headers = Headers(resp.get("headers"))
        if "parsed_body" in resp:
            body = orjson.dumps(resp["parsed_body"])
        else:
            body = _body_bytes(resp.get("body"), f"{where} response", path) or b""
            body, headers = _decode(body, headers, f"{where} response", path)
        chunks = resp.get("streamproof_chunks")
        parsed_chunks = [(int(o), float(t)) for o, t in chunks] if chunks else None
        return Interaction(
            index=index,
            request=RecordedRequest(
                method=str(req.get("method", "GET")).upper(),
                uri=str(req.get("uri", "")),
                headers=Headers(req.get("headers")),
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


def load_cassette(path: str | Path) -> Cassette:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CassetteError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CassetteError(path, f"not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise CassetteError(path, "not a vcrpy cassette: no 'interactions' list")
    interactions = [parse_interaction(i, raw, path) for i, raw in enumerate(data["interactions"])]
    meta = data.get("streamproof")
    return Cassette(path=path, interactions=interactions, metadata=dict(meta) if isinstance(meta, Mapping) else {})
