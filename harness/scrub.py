"""Scrubbing secrets out of everything that is written to a cassette.

``save_cassette`` runs a ``Scrubber`` on every interaction it writes; there is no unscrubbed write
path. The defaults cannot be switched off, only extended:

- headers are kept by allowlist; credentials (``authorization``, ``x-api-key``, cookies, OpenAI
  organization/project ...) are dropped even when a user allows them;
- secret *shapes* (OpenAI, Anthropic, AWS, Groq, GitHub, Hugging Face, xAI, Slack, Stripe keys,
  JWTs, bearer and Basic credentials, keys named ``api-key`` / ``aws_secret_access_key``, secret
  query parameters in any case and ``user:password@`` in URLs) are replaced in bodies, URLs and
  header values; a request URL also loses its user info and every secret query value
  (``scrub_uri``, the rule of ``adapters/url_secrets.py``);
- the *actual values* of key-like environment variables are replaced wherever they occur, which
  catches a key of no known shape;
- a secret streamed in pieces over several SSE events (a model echoing a key token by token) is
  found in the stream rebuilt from the events and redacted in each of them (``_redact_streamed``).

Replacements are fixed placeholders such as ``<REDACTED:openai-key>``: they hold no quote, backslash
or line break, so JSON and SSE stay parseable, and no pattern matches them, so scrubbing twice
changes nothing. When a replacement changes a body's length, the chunk end offsets recorded for it
are moved with it (``scrub_body``).

User extensions run *before* the defaults (``body_filters``, then ``extra_secrets``, then
``extra_shapes``), so a user filter can never undo a default one. Literal secrets are also looked
for percent-encoded (as in a URL) and JSON-escaped (as in a body).
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from ..adapters.errors import StreamproofError
from ..adapters.url_secrets import SECRET_PARAM_ENDINGS, redact_url
from .formats import FORMATS

Chunks = list[tuple[int, float]]


class ScrubConfigError(StreamproofError):  # type: ignore[misc,unused-ignore]
    """A scrubber configuration that would weaken the defaults."""


@dataclass(frozen=True)
class SecretShape:
    """A secret's shape: ``secret`` is replaced; ``prefix`` (e.g. ``key=``) must precede it and stays.

    ``not_after``: a character class that must not come just before the match (a word boundary
    that suits keys: ``sk-`` inside ``task-`` is no key). It is checked outside the regex because a
    leading lookbehind stops ``re`` from skipping ahead to the literal start: 25x slower.
    """

    kind: str
    secret: str
    prefix: str = ""
    not_after: str = ""


_KEY_CHARS = "A-Za-z0-9_-"
# ``name: value`` / ``name=value`` / ``"name": "value"`` / a YAML or JSON list of one (headers in a
# cassette are lists): what may stand between a credential's name and its value.
_NAMED = r"[\"']?\s*[:=]\s*(?:-\s+|\[\s*)?[\"']?"


def _any_case(*words: str) -> str:
    """``api`` as ``api``, ``API`` or ``Api`` (how names are written): a regex that starts with
    spelled-out words runs ~3x faster than one under ``(?i:...)``, which ``re`` cannot skip ahead for."""
    return "(?:" + "|".join(f"{w}|{w.upper()}|{w.capitalize()}" for w in words) + ")"


DEFAULT_SHAPES: tuple[SecretShape, ...] = (  # most specific first: each pass sees the previous ones' output
    SecretShape("anthropic-key", r"sk-ant-[a-z]+[0-9]*-[A-Za-z0-9_-]{16,}", not_after=_KEY_CHARS),
    SecretShape("openai-project-key", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}", not_after=_KEY_CHARS),
    SecretShape("openai-key", r"sk-[A-Za-z0-9_-]{20,}", not_after=_KEY_CHARS),
    SecretShape("aws-access-key", r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])", not_after="A-Za-z0-9"),
    SecretShape("github-token", r"gh[pousr]_[A-Za-z0-9]{30,}", not_after="A-Za-z0-9_"),
    SecretShape("google-api-key", r"AIza[0-9A-Za-z_-]{35}", not_after=_KEY_CHARS),
    SecretShape("github-pat", r"github_pat_[A-Za-z0-9_]{22,}", not_after="A-Za-z0-9_"),
    SecretShape("groq-key", r"gsk_[A-Za-z0-9]{20,}", not_after="A-Za-z0-9_"),
    SecretShape("huggingface-token", r"hf_[A-Za-z0-9]{30,}", not_after="A-Za-z0-9_"),
    SecretShape("xai-key", r"xai-[A-Za-z0-9]{40,}", not_after=_KEY_CHARS),
    SecretShape("slack-token", r"xox[abposr]-[A-Za-z0-9-]{10,}", not_after=_KEY_CHARS),
    SecretShape("stripe-key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}", not_after="A-Za-z0-9_"),
    SecretShape(  # Azure OpenAI / API Management: 32 hex digits, known only by the name beside them
        "azure-key",
        r"[0-9a-fA-F]{32}(?![0-9a-zA-Z])",
        prefix=_any_case("api", "subscription") + "[-_]?" + _any_case("key") + _NAMED,
    ),
    SecretShape(  # 40 characters of base64: only the name beside them says it is a key
        "aws-secret-key",
        r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        # aws_secret_access_key, AWS_SECRET_ACCESS_KEY, SecretAccessKey, aws_secret_key, secret_key,
        # aws_secret, AWS_SECRET
        prefix=f"(?:{_any_case('secret')}[-_]?(?:{_any_case('access')}[-_]?)?{_any_case('key')}"
        f"|{_any_case('aws')}[-_]?{_any_case('secret')})" + _NAMED,
    ),
    SecretShape(  # SigV4: ``Credential=<key id>/<date>/<region>/<service>/aws4_request``, any key id
        "aws-credential", r"[A-Z0-9]{16,128}(?=/)", prefix=r"Credential="
    ),
    SecretShape("aws-signature", r"[0-9a-f]{64}(?![0-9a-f])", prefix=r"Signature="),  # SigV4's HMAC
    SecretShape(  # an STS session token, named: long base64 of no fixed shape
        "aws-session-token",
        r"[A-Za-z0-9/+=%]{16,}",
        prefix=r"(?i:x-amz-security-token|aws[-_]?session[-_]?token|sessiontoken)" + _NAMED,
    ),
    SecretShape(
        "bearer-token", r"[A-Za-z0-9._~+/=-]{12,}", prefix=r"Bearer\s+", not_after="A-Za-z"
    ),  # not "bearer"
    SecretShape(  # any spelling of "bearer", but then the token must hold a digit (prose does not)
        "bearer-token",
        r"(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{12,}",
        prefix=r"(?i:bearer)\s+",
        not_after="A-Za-z",
    ),
    SecretShape(  # an Authorization value of any scheme, named as such: whatever it looks like
        "authorization",
        r"[A-Za-z0-9._~+/=-]{4,}",
        prefix=r"(?i:authorization)" + _NAMED + r"(?i:bearer|basic|token)\s+",
        not_after="A-Za-z",
    ),
    SecretShape(  # user:password in base64; prose has no digit, "+", "/" or "=" in the next word
        "basic-credentials",
        r"(?=[A-Za-z]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}(?![A-Za-z0-9+/=])",
        prefix=r"(?i:basic)\s+",
        not_after="A-Za-z",
    ),
    SecretShape(  # header.payload.signature, each base64url; header and payload are JSON ("eyJ")
        "jwt", r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*", not_after=_KEY_CHARS
    ),
    SecretShape(  # parameter names as in adapters/url_secrets.py, any case; any value but a placeholder
        "url-secret",
        r"[^&\s\"'#<>]+",
        prefix=r"[?&;][A-Za-z0-9_.%-]*(?i:" + "|".join(SECRET_PARAM_ENDINGS) + ")=",
    ),
    SecretShape(  # scheme://user:password@host (also JSON-escaped, ``:\/\/``)
        "url-password",
        r"[^/?#\s@\"'<>\\]+(?=@)",
        prefix=r":\\?/\\?/[^/?#\s:@\"'<>\\]*:",
    ),
)


# Names of environment variables whose values are secrets, whatever they look like.
_SECRET_ENV_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE", re.IGNORECASE)
_MIN_ENV_SECRET_LENGTH = 8  # shorter values ("1", "true") would shred ordinary text
_NOT_SECRET_VALUES = frozenset({"true", "false", "none", "null", "disabled", "enabled"})

# Kept by default. Everything else is dropped, so a new credential header never leaks by default.
DEFAULT_ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "anthropic-beta",
        "anthropic-organization-id",
        "anthropic-version",
        "cache-control",
        "cf-ray",
        "content-encoding",
        "content-length",
        "content-type",
        "date",
        "openai-beta",
        "openai-model",
        "openai-processing-ms",
        "openai-version",
        "request-id",
        "retry-after",
        "retry-after-ms",
        "server",
        "user-agent",
        "via",
        "x-request-id",
        "x-should-retry",
        "x-amzn-requestid",
        "x-amzn-errortype",
    }
)
DEFAULT_ALLOWED_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "x-stainless-", "x-amzn-bedrock-")
# Never kept, whatever a user allows.
ALWAYS_DROPPED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "x-amz-security-token",
        "x-amz-date",  # the SigV4 signing headers: parts of the signature, never recorded
        "x-amz-content-sha256",
    }
)


def env_secrets(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Secret values from the environment, by variable name."""
    environ = os.environ if environ is None else environ
    return {
        name: value
        for name, value in environ.items()
        if _SECRET_ENV_NAME.search(name)
        and len(value) >= _MIN_ENV_SECRET_LENGTH
        and value.lower() not in _NOT_SECRET_VALUES
    }


@dataclass(frozen=True)
class _Pass:
    """One regex over a body: group ``s`` (or the whole match) is the secret."""

    kind: str
    regex: re.Pattern[bytes]
    not_after: re.Pattern[bytes] | None = None

    @classmethod
    def of_shape(cls, shape: SecretShape) -> _Pass:
        regex = f"(?:{shape.prefix})(?P<s>{shape.secret})" if shape.prefix else f"(?P<s>{shape.secret})"
        not_after = re.compile(f"[{shape.not_after}]".encode()) if shape.not_after else None
        return cls(shape.kind, re.compile(regex.encode()), not_after)

    @classmethod
    def of_literal(cls, kind: str, value: str) -> _Pass:
        return cls(kind, re.compile(b"(?P<s>" + re.escape(value.encode("utf-8", "surrogatepass")) + b")"))

    def secrets(self, data: bytes) -> Iterator[tuple[int, int]]:
        """``(start, end)`` of each secret in ``data``."""
        for match in self.regex.finditer(data):
            before = match.start() - 1
            if self.not_after is not None and before >= 0 and self.not_after.match(data, before):
                continue
            yield match.start("s"), match.end()


_DEFAULT_PASSES = tuple(_Pass.of_shape(shape) for shape in DEFAULT_SHAPES)


def _base64_forms(value: str) -> list[str]:
    """The base64 text (standard and URL-safe) that ``value`` becomes inside any base64 blob, at each
    of the three byte alignments: only the characters that depend on ``value``'s bytes alone."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        first = -(-8 * shift // 6)  # the first character whose six bits all come from ``raw``
        last = (8 * (shift + len(raw))) // 6  # past the last such character
        piece = encoded[first:last]
        forms += [piece, piece.replace("+", "-").replace("/", "_")]
    return forms


def _literal_passes(literals: Mapping[str, str]) -> tuple[_Pass, ...]:
    forms = {
        (kind, form)
        for kind, value in literals.items()
        for form in (
            value,
            quote(value, safe=""),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            *_base64_forms(value),  # a key echoed inside a base64 payload (Bedrock's event frames)
        )
    }
    # Longest first, so a secret that contains another is replaced whole.
    ordered = sorted(forms, key=lambda item: (-len(item[1]), item))
    return tuple(_Pass.of_literal(kind, value) for kind, value in ordered)


@dataclass(frozen=True)
class Finding:
    offset: int
    kind: str


class Scrubber:
    """Replaces secrets with placeholders; the defaults always apply, extensions run first."""

    def __init__(
        self,
        *,
        extra_shapes: Iterable[SecretShape] = (),
        extra_secrets: Mapping[str, str] | None = None,
        allow_headers: Iterable[str] = (),
        drop_headers: Iterable[str] = (),
        body_filters: Iterable[Callable[[bytes], bytes]] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        allowed = {name.lower() for name in allow_headers}
        forbidden = sorted(allowed & ALWAYS_DROPPED_HEADERS)
        if forbidden:
            raise ScrubConfigError(f"headers {forbidden} carry credentials and are always dropped")
        self._allowed_headers = (DEFAULT_ALLOWED_HEADERS | allowed) - {n.lower() for n in drop_headers}
        self._body_filters = tuple(body_filters)
        literals = {f"env:{name}": value for name, value in env_secrets(environ).items()}
        literals.update({name: value for name, value in (extra_secrets or {}).items() if value})
        self._passes = (
            *_literal_passes(literals),
            *(_Pass.of_shape(shape) for shape in extra_shapes),
            *_DEFAULT_PASSES,
        )

    # -- headers ---------------------------------------------------------------------------

    def keeps_header(self, name: str) -> bool:
        lower = name.lower()
        if lower in ALWAYS_DROPPED_HEADERS:
            return False
        return lower in self._allowed_headers or lower.startswith(DEFAULT_ALLOWED_HEADER_PREFIXES)

    def scrub_headers(self, headers: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {
            name: [self.scrub_text(value) for value in values]
            for name, values in headers.items()
            if self.keeps_header(name)
        }

    # -- text and bodies -------------------------------------------------------------------

    def scrub_text(self, text: str) -> str:
        return self.scrub_bytes(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")

    def scrub_bytes(self, data: bytes) -> bytes:
        return self.scrub_body(data, None)[0]

    def scrub_body(self, body: bytes, chunks: Chunks | None) -> tuple[bytes, Chunks | None]:
        """Scrub ``body``; move the chunk end offsets with every replacement that changes length."""
        for body_filter in self._body_filters:
            filtered = body_filter(body)
            if chunks is not None and len(filtered) != len(body):
                chunks = rescale_chunks(chunks, len(body), len(filtered))
            body = filtered
        body, edits = self._scrub_inside_frames(body)  # a binary framing's payloads, decoded
        if edits and chunks is not None:
            chunks = _move_offsets(chunks, edits)
        body, edits = _redact_streamed(body, self._passes)  # before the passes: they would cut a key in half
        if edits and chunks is not None:
            chunks = _move_offsets(chunks, edits)
        for secret_pass in self._passes:
            body, edits = _replace(secret_pass, body)
            if edits and chunks is not None:
                chunks = _move_offsets(chunks, edits)
        return body, chunks

    def _scrub_inside_frames(self, body: bytes) -> tuple[bytes, list[tuple[int, int, int]]]:
        """A body in a binary framing (AWS event stream) carries base64 payloads no pass can read:
        they are decoded, scrubbed together as the data lines of one stream (so a secret streamed
        over several frames is found too), and the changed frames written anew."""
        for fmt in FORMATS.values():
            documents = fmt.inner_documents(body)
            if documents is None:
                continue
            scrubbed = None
            if not any(b"\n" in document for document in documents):
                joined = self.scrub_bytes(b"".join(b"data: " + document + b"\n\n" for document in documents))
                scrubbed = [line.removeprefix(b"data: ") for line in joined.split(b"\n\n")[:-1]]
            if scrubbed is None or len(scrubbed) != len(documents):
                scrubbed = [self.scrub_bytes(document) for document in documents]
            return fmt.rewrapped(body, scrubbed)
        return body, []

    def scrub_uri(self, uri: str) -> str:
        """A request URL: no user info, no secret query value however short (``url_secrets``), then
        the passes as for any text."""
        return self.scrub_text(redact_url(uri))


def _replace(secret_pass: _Pass, data: bytes) -> tuple[bytes, list[tuple[int, int, int]]]:
    """Replace every secret; return the new bytes and ``(start, end, new_length)`` edits."""
    placeholder = f"<REDACTED:{secret_pass.kind}>".encode()
    out, edits, last = [], [], 0
    for start, end in secret_pass.secrets(data):
        out.append(data[last:start])
        out.append(placeholder)
        edits.append((start, end, len(placeholder)))
        last = end
    if not edits:
        return data, edits
    out.append(data[last:])
    return b"".join(out), edits


# -- secrets spread over the events of a stream -------------------------------------------------
#
# A model that echoes a key streams it in pieces: a token per event, in text or in tool-call
# arguments, so no event holds the whole key. Each stream is rebuilt from its events' JSON, looked
# at whole, and the pieces of what is found are replaced in place. This knows no wire format: it
# reads ``data:`` lines as JSON and takes the string fields below as pieces of a stream, one
# stream per field name and per the positions (``index``, ``output_index``, ``item_id`` ...) on
# the way to it.

# String fields that carry one piece of a streamed string: Chat ``delta.content`` and
# ``function.arguments``, Messages ``text`` / ``partial_json`` / ``thinking``, Responses ``delta``,
# compatible servers' ``reasoning`` / ``reasoning_content``, and ``refusal``.
_DELTA_FIELDS = (
    "content",
    "text",
    "arguments",
    "partial_json",
    "thinking",
    "delta",
    "refusal",
    "reasoning",
    "reasoning_content",
)
_DELTA_FIELD_NAMES = frozenset(_DELTA_FIELDS)
_HAS_DELTA_FIELD = re.compile(b'"(?:' + b"|".join(name.encode() for name in _DELTA_FIELDS) + b')"')
_DATA_LINE = re.compile(rb"^data:[ ]?(\{[^\r\n]*)", re.MULTILINE)
_MAX_DELTA_DEPTH = 16  # the formats nest pieces 3-6 deep; deeper JSON is not walked
_JsonPath = tuple[str | int, ...]
_StreamKey = tuple[object, ...]


@dataclass
class _Piece:
    line: int  # index of the data line it was read from
    path: _JsonPath
    start: int  # where its UTF-8 bytes begin in the rebuilt stream
    data: bytes


def _is_position(name: str, value: object) -> bool:
    return (name == "index" or name.endswith("_index") or name == "item_id") and (
        isinstance(value, (int, str)) and not isinstance(value, bool)
    )


def _delta_strings(
    value: object, path: _JsonPath, where: _StreamKey
) -> Iterator[tuple[_StreamKey, _JsonPath, str]]:
    """``(stream key, path, piece)`` for every delta string field in a decoded event."""
    if len(path) > _MAX_DELTA_DEPTH:
        return
    if isinstance(value, dict):
        where = (*where, *((k, v) for k, v in value.items() if _is_position(k, v)))
        for name, item in value.items():
            if isinstance(item, str):
                if name in _DELTA_FIELD_NAMES:
                    yield (name, *where), (*path, name), item
            elif isinstance(item, (dict, list)):
                yield from _delta_strings(item, (*path, name), where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            positioned = isinstance(item, dict) and any(_is_position(k, v) for k, v in item.items())
            yield from _delta_strings(item, (*path, i), where if positioned else (*where, ("[]", i)))


def _secret_spans(data: bytes, passes: tuple[_Pass, ...]) -> list[tuple[int, int, str]]:
    """Every pass's finds in ``data``, overlapping ones merged (the first pass's kind names them)."""
    found = sorted(
        (start, end, order)
        for order, secret_pass in enumerate(passes)
        for start, end in secret_pass.secrets(data)
    )
    merged: list[list[int]] = []
    for start, end, order in found:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            merged[-1][2] = min(merged[-1][2], order)
        else:
            merged.append([start, end, order])
    return [(start, end, passes[order].kind) for start, end, order in merged]


def _redacted_piece(piece: _Piece, spans: list[tuple[int, int, str]]) -> bytes | None:
    """The piece with its share of each secret cut out; the piece where a secret starts holds its
    placeholder. None when no secret touches it."""
    end = piece.start + len(piece.data)
    out, last, touched = [], piece.start, False
    for start, stop, kind in spans:
        if stop <= piece.start or start >= end:
            continue
        touched = True
        cut = max(start, piece.start)
        out.append(piece.data[last - piece.start : cut - piece.start])
        if start >= piece.start:
            out.append(f"<REDACTED:{kind}>".encode())
        last = min(stop, end)
    if not touched:
        return None
    out.append(piece.data[last - piece.start :])
    return b"".join(out)


def _set_at(document: Any, path: _JsonPath, value: str) -> None:
    for step in path[:-1]:
        document = document[step]
    document[path[-1]] = value


def _redact_streamed(body: bytes, passes: tuple[_Pass, ...]) -> tuple[bytes, list[tuple[int, int, int]]]:
    """``body`` with every secret found in a rebuilt stream redacted in the events that carry its
    pieces (those events' JSON is written anew, compact); the ``(start, end, new_length)`` edits."""
    if b"data:" not in body:
        return body, []
    lines: list[tuple[int, int, Any]] = []  # (start, end, decoded JSON) of each data line with pieces
    streams: dict[_StreamKey, list[_Piece]] = {}
    for match in _DATA_LINE.finditer(body):
        payload = match.group(1)
        if not _HAS_DELTA_FIELD.search(payload):
            continue
        try:
            document = orjson.loads(payload)
        except (
            orjson.JSONDecodeError
        ):  # not JSON (or beyond orjson: huge ints, lone surrogates): the passes still see it
            continue
        line = len(lines)
        lines.append((match.start(1), match.end(1), document))
        for key, path, text in _delta_strings(document, (), ()):
            pieces = streams.setdefault(key, [])
            start = pieces[-1].start + len(pieces[-1].data) if pieces else 0
            pieces.append(_Piece(line, path, start, text.encode()))
    changed: set[int] = set()
    for pieces in streams.values():
        spans = _secret_spans(b"".join(piece.data for piece in pieces), passes)
        if not spans:
            continue
        for piece in pieces:
            redacted = _redacted_piece(piece, spans)
            if redacted is not None:
                _set_at(lines[piece.line][2], piece.path, redacted.decode("utf-8", "replace"))
                changed.add(piece.line)
    if not changed:
        return body, []
    out, edits, last = [], [], 0
    for line in sorted(changed):
        start, end, document = lines[line]
        new = orjson.dumps(document)
        out += [body[last:start], new]
        edits.append((start, end, len(new)))
        last = end
    out.append(body[last:])
    return b"".join(out), edits


def _move_offsets(chunks: Chunks, edits: list[tuple[int, int, int]]) -> Chunks:
    """New chunk ends after ``edits``. A chunk that ended inside a secret now ends before its
    placeholder, so the placeholder arrives with the chunk that completed the secret."""
    moved: Chunks = []
    shift, i = 0, 0
    for end, seconds in chunks:
        while i < len(edits) and edits[i][1] <= end:
            start, stop, new_length = edits[i]
            shift += new_length - (stop - start)
            i += 1
        new_end = end + shift
        if i < len(edits) and edits[i][0] < end:  # inside the next edit's secret
            new_end = edits[i][0] + shift
        if new_end > 0 and (not moved or new_end > moved[-1][0]):
            moved.append((new_end, seconds))
    return moved


def rescale_chunks(chunks: Chunks, old_length: int, new_length: int) -> Chunks:
    """Chunk ends for a body a user filter resized: proportional, monotonic, ending at the end."""
    scaled: Chunks = []
    for end, seconds in chunks:
        new_end = new_length if end >= old_length else end * new_length // max(old_length, 1)
        if new_end > 0 and (not scaled or new_end > scaled[-1][0]):
            scaled.append((new_end, seconds))
    return scaled


def find_secrets(data: bytes, environ: Mapping[str, str] | None = None) -> Iterator[Finding]:
    """Secret-shaped strings and environment secret values in ``data`` (what ``scan`` reports)."""
    env_literals = {f"env:{name}": value for name, value in env_secrets(environ).items()}
    reported: list[tuple[int, int]] = []  # a key matched by a specific shape is not reported again
    for secret_pass in (*_literal_passes(env_literals), *_DEFAULT_PASSES):
        for start, end in secret_pass.secrets(data):
            if not any(a <= start < b for a, b in reported):
                reported.append((start, end))
                yield Finding(start, secret_pass.kind)
