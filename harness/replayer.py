"""Replaying cassettes through httpx2 and httpx clients, with their chunking and timing.

Building blocks (each usable alone):

- ``RequestMatcher``: a request matches a recorded one on method, host, path, query and the JSON
  body, minus ``ignore_paths`` (``"stream_options"``, ``"metadata.user_id"``, ``"messages[*].id"``).
- ``CassettePlayer``: the recorded interactions; each plays once, in order, like vcrpy. A miss
  raises ``NoMatchingInteraction`` naming the nearest recorded interaction and the first field
  (JSON path) that differs.
- ``ReplayOptions``: pace (``"instant"``, ``"recorded"`` or a float that scales recorded gaps),
  chunking (``"recorded"``, ``"events"``, ``"random"`` with ``seed``, ``"bytes"``), ``gzip_wire``
  and ``shape``, the hook that turns an ``Interaction`` into the ``ServedResponse`` to serve
  (``harness.served``; fault injection passes its own: changed status/headers/chunks, a stall
  before the headers, or ``abort`` to cut the connection after the last chunk).
- ``ReplayTransport`` / ``AsyncReplayTransport``: transports for httpx2 *and* httpx clients. The
  body is served decoded, without framing headers, with a fresh ``content-length`` (never together
  with ``transfer-encoding``); with ``gzip_wire`` it is gzip-compressed chunk by chunk (sync flush,
  so each chunk decodes as it arrives) under ``content-encoding: gzip``. A read timeout is
  enforced the way a network would: a gap longer than the request's read timeout raises
  ``ReadTimeout`` (under ``"instant"`` pace without waiting, judged on the recorded times).
  Without a fallback, a transport never opens a socket: a request not in the cassette fails.
  A response served as recorded (the default options) is cut into its chunks as the client reads
  them, so the first chunk leaves before the rest of a long stream is sliced out of the body.

``use_cassette(path, mode=...)`` puts these together for one cassette and a record mode (vcrpy's
meanings: ``none`` replays only; ``once`` records when the file does not exist yet and otherwise
replays only; ``new_episodes`` replays what matches and records the rest; ``all`` records every
request and replaces the recorded interactions it matches), plus ``rewrite`` (pytest-recording's:
the file's interactions are dropped, the cassette holds only what is recorded now). It patches
nothing by itself; it
hands out transports::

    with use_cassette("chat.yaml", ignore_paths=["stream_options"]) as cassette:
        client = openai.OpenAI(http_client=httpx2.Client(transport=cassette.transport()), max_retries=0)

and, for clients a library builds itself, ``cassette.intercept()`` patches the real transports'
``handle_request``/``handle_async_request`` of httpx2 and httpx (``HTTPTransport`` and
``AsyncHTTPTransport``) for the duration of a ``with`` block, as vcrpy does, routing every request
through the cassette; recording then goes through the transport instance that was patched.

``NoMatchingInteraction`` is not a transport error, so the SDKs neither retry nor wrap it: it
reaches the test as it is.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple
from unittest import mock

import httpx
import httpx2

from ..adapters.errors import CassetteError
from .cassette import Interaction, RecordedRequest, RecordedResponse, load_cassette
from .rechunk import at_frames, at_random_offsets, byte_by_byte
from .recorder import (
    AsyncRecordingTransport,
    CassetteRecorder,
    RecordingTransport,
    library_of,
    recorded_request,
)
from .scrub import Scrubber
from .served import ServedChunk, ServedResponse, served_from_interaction, served_headers

RecordMode = Literal["none", "once", "new_episodes", "all", "rewrite"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all", "rewrite")
Pace = Literal["instant", "recorded"] | float
Chunking = Literal["recorded", "events", "random", "bytes"]


class _Missing:
    """A key or list item one side lacks (a sentinel no JSON value can equal)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class NoMatchingInteraction(CassetteError):  # type: ignore[misc,unused-ignore]
    """A request the cassette cannot answer (and may not record)."""


# -- matching --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    field: str  # "method", "host", "path", "query", "body" or a JSON path into the body
    recorded: Any
    sent: Any


class RequestMatcher:
    """Method, host, path, query and JSON body equality, minus ``ignore_paths``: dotted JSON paths
    (``metadata.user_id``), ``[*]`` for any list index, ``*`` for any key; a path covers what is under it."""

    def __init__(self, ignore_paths: Iterable[str] = ()) -> None:
        patterns = [
            re.escape(p).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[]+") for p in ignore_paths
        ]
        self._ignored = re.compile(rf"(?:{'|'.join(patterns)})(?:$|[.\[])") if patterns else None

    def matches(self, sent: RecordedRequest, recorded: RecordedRequest) -> bool:
        return not self.differences(sent, recorded, limit=1)

    def differences(
        self, sent: RecordedRequest, recorded: RecordedRequest, limit: int = 0
    ) -> list[Difference]:
        """Differences in order: method, host, path, query, then body fields; at most ``limit`` (0: all)."""
        found: list[Difference] = []
        for name, ours, theirs in (
            ("method", sent.method, recorded.method),
            ("host", sent.host, recorded.host),
            ("path", sent.path.rstrip("/"), recorded.path.rstrip("/")),
            ("query", _query(sent.uri), _query(recorded.uri)),
        ):
            if ours != theirs:
                found.append(Difference(name, theirs, ours))
        if not limit or len(found) < limit:
            self._body_differences(sent, recorded, found, limit)
        return found[:limit] if limit else found

    def _body_differences(
        self, sent: RecordedRequest, recorded: RecordedRequest, found: list[Difference], limit: int
    ) -> None:
        if (sent.body or b"") == (recorded.body or b""):
            return
        ours, theirs = sent.json(), recorded.json()
        if ours is None or theirs is None:
            found.append(Difference("body", recorded.body, sent.body))
            return
        self._walk("", theirs, ours, found, limit)

    def _walk(self, path: str, recorded: Any, sent: Any, found: list[Difference], limit: int) -> None:
        if limit and len(found) >= limit:
            return
        if path and self._ignored is not None and self._ignored.match(path):
            return
        if isinstance(recorded, dict) and isinstance(sent, dict):
            for key in [*recorded, *(k for k in sent if k not in recorded)]:
                child = f"{path}.{key}" if path else str(key)
                self._walk(child, recorded.get(key, _MISSING), sent.get(key, _MISSING), found, limit)
        elif isinstance(recorded, list) and isinstance(sent, list):
            for i in range(max(len(recorded), len(sent))):
                self._walk(
                    f"{path}[{i}]",
                    recorded[i] if i < len(recorded) else _MISSING,
                    sent[i] if i < len(sent) else _MISSING,
                    found,
                    limit,
                )
        elif recorded != sent or type(recorded) is not type(sent):
            found.append(Difference(path or "body", recorded, sent))


def _query(uri: str) -> list[tuple[str, str]]:
    return sorted(httpx2.URL(uri).params.multi_items())


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CassettePlayer:
    """Recorded interactions, each played at most once, first unplayed match first.

    Cassettes hold scrubbed requests, so a sent request is scrubbed the same way before it is
    compared (a key in a URL or body would otherwise never match; it never shows in a message).
    """

    def __init__(
        self,
        path: Path,
        interactions: list[Interaction],
        matcher: RequestMatcher,
        scrubber: Scrubber | None = None,
    ) -> None:
        self.path = path
        self.interactions = interactions
        self.matcher = matcher
        self._scrubber = scrubber or Scrubber()
        self._played = [False] * len(interactions)
        self._lock = threading.Lock()  # clients on several threads may share one cassette

    def scrubbed(self, sent: RecordedRequest) -> RecordedRequest:
        body = self._scrubber.scrub_bytes(sent.body) if sent.body is not None else None
        return RecordedRequest(sent.method, self._scrubber.scrub_text(sent.uri), sent.headers, body)

    @property
    def all_played(self) -> bool:
        return all(self._played)

    def add(self, interactions: Iterable[Interaction]) -> None:
        """More interactions to play (another cassette's), numbered after these."""
        with self._lock:
            start = len(self.interactions)
            for i, item in enumerate(interactions):
                self.interactions.append(Interaction(start + i, item.request, item.response))
                self._played.append(False)

    @property
    def unplayed(self) -> list[Interaction]:
        """The interactions no request has taken yet (at the end of a test: its stale tail)."""
        with self._lock:
            return [item for item, played in zip(self.interactions, self._played, strict=True) if not played]

    def take(self, sent: RecordedRequest) -> Interaction | None:
        sent = self.scrubbed(sent)
        with self._lock:
            for i, interaction in enumerate(self.interactions):
                if not self._played[i] and self.matcher.matches(sent, interaction.request):
                    self._played[i] = True
                    return interaction
        return None

    def no_match(self, sent: RecordedRequest) -> NoMatchingInteraction:
        sent = self.scrubbed(sent)
        asked = f"no recorded interaction matches {sent.method} {sent.uri}"
        if not self.interactions:
            return NoMatchingInteraction(self.path, f"{asked}; the cassette has no interactions")
        weights = {"method": 1000, "host": 100, "path": 100, "query": 10}
        scored = []
        for i, interaction in enumerate(self.interactions):
            found = self.matcher.differences(sent, interaction.request)
            scored.append((sum(weights.get(d.field, 1) for d in found), self._played[i], i, found))
        _, _, index, found = min(scored)
        nearest = self.interactions[index].request
        where = f"nearest is interaction {index} ({nearest.method} {nearest.uri})"
        if not found:
            return NoMatchingInteraction(
                self.path, f"{asked}; {where} matches but was already played (each interaction plays once)"
            )
        first = found[0]
        return NoMatchingInteraction(
            self.path,
            f"{asked}; {where}, first difference at {first.field}: "
            f"recorded {_short(first.recorded)}, sent {_short(first.sent)}",
        )


# -- serving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayOptions:
    pace: Pace = "instant"
    chunking: Chunking = "recorded"
    seed: int = 0
    gzip_wire: bool = False
    shape: Callable[[Interaction], ServedResponse] = field(default=served_from_interaction)

    def __post_init__(self) -> None:
        self.time_scale  # noqa: B018 -- validates pace now rather than at the first response
        if self.chunking not in ("recorded", "events", "random", "bytes"):
            raise CassetteError("<replay options>", f"unknown chunking {self.chunking!r}")

    @property
    def time_scale(self) -> float:
        if self.pace == "instant":
            return 0.0
        if self.pace == "recorded":
            return 1.0
        if isinstance(self.pace, (int, float)) and self.pace >= 0:
            return float(self.pace)
        raise CassetteError(
            "<replay options>", f"pace must be 'instant', 'recorded' or a float >= 0, got {self.pace!r}"
        )


def rechunked(served: ServedResponse, chunking: Chunking, seed: int = 0) -> tuple[ServedChunk, ...]:
    """``served``'s body cut another way; each new chunk is due when its last byte was due."""
    body = served.body
    if chunking == "recorded":
        return served.chunks
    if chunking == "events":
        pieces = at_frames(body, served.content_type)
    elif chunking == "random":
        pieces = at_random_offsets(body, seed)
    else:
        pieces = list(byte_by_byte(body))
    due, ends, total = [], [], 0
    for chunk in served.chunks:
        total += len(chunk.data)
        ends.append(total)
        due.append(chunk.at)
    result, position, j = [], 0, 0
    for piece in pieces:
        position += len(piece)
        while j < len(ends) - 1 and ends[j] < position:
            j += 1
        result.append(ServedChunk(piece, due[j] if due else 0.0))
    return tuple(result)


def gzipped(chunks: tuple[ServedChunk, ...]) -> tuple[ServedChunk, ...]:
    """The same chunks gzip-compressed as one stream, flushed at every chunk boundary."""
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    out = [
        ServedChunk(compressor.compress(c.data) + compressor.flush(zlib.Z_SYNC_FLUSH), c.at) for c in chunks
    ]
    tail = compressor.flush()
    last_at = chunks[-1].at if chunks else 0.0
    return (*out, ServedChunk(tail, last_at))


def prepared(served: ServedResponse, options: ReplayOptions) -> ServedResponse:
    """``served`` re-chunked (and compressed) as ``options`` ask, with the headers to send."""
    chunks = rechunked(served, options.chunking, options.seed)
    headers = tuple(
        (k, v) for k, v in served.headers if k.lower() not in ("content-length", "content-encoding")
    )
    if options.gzip_wire:
        chunks = gzipped(chunks)
        headers += (("content-encoding", "gzip"),)
    headers += (("content-length", str(sum(len(c.data) for c in chunks))),)
    return replace(served, chunks=chunks, headers=headers)


class _Step(NamedTuple):  # a tuple: one is made per chunk served, ~5x cheaper than a frozen dataclass
    wait_until: float  # seconds since the request, already scaled
    data: bytes
    timeout_after: float | None = None  # set when the gap before this chunk exceeds the read timeout


def _steps(served: ServedResponse, scale: float, read_timeout: float | None) -> list[_Step]:
    """When to deliver each chunk, and where a read timeout fires instead (recorded or scaled time)."""
    judge = scale if scale > 0 else 1.0  # under "instant", time-outs are judged on recorded times
    steps, previous = [], served.stall_before_headers
    for chunk in served.chunks:
        gap = (chunk.at - previous) * judge
        if read_timeout is not None and gap > read_timeout:
            steps.append(_Step(previous * scale, b"", timeout_after=read_timeout if scale > 0 else 0.0))
            return steps
        steps.append(_Step(chunk.at * scale, chunk.data))
        previous = max(previous, chunk.at)
    return steps


def _recorded_steps(response: RecordedResponse, scale: float, read_timeout: float | None) -> Iterator[_Step]:
    """``_steps`` of ``served_from_interaction(interaction)`` served as recorded, made one chunk at a
    time as the client reads: the first chunk of a 2,000-event stream leaves before the others are
    sliced out of the body (``served_from_interaction`` cuts them all up front)."""
    judge = scale if scale > 0 else 1.0
    previous = 0.0
    for data, at in _recorded_pieces(response):
        if read_timeout is not None and (at - previous) * judge > read_timeout:
            yield _Step(previous * scale, b"", timeout_after=read_timeout if scale > 0 else 0.0)
            return
        yield _Step(at * scale, data)
        previous = max(previous, at)


def _recorded_pieces(response: RecordedResponse) -> Iterator[tuple[bytes, float]]:
    """The recorded chunks and their times, as ``served_from_interaction`` cuts them."""
    body = response.body
    if not response.chunks:
        for piece in at_frames(body, response.content_type):
            if piece:
                yield piece, 0.0
        return
    start = 0
    for end, seconds in response.chunks:
        if end > start:
            yield body[start:end], seconds
            start = end
    if start < len(body):  # bytes past the last recorded offset arrive with the last chunk
        yield body[start:], response.chunks[-1][1]


def _read_timeout(request: Any) -> float | None:
    timeout = request.extensions.get("timeout", {})
    value = timeout.get("read") if isinstance(timeout, dict) else None
    return float(value) if value is not None else None


class _ReplayStream(httpx2.SyncByteStream, httpx.SyncByteStream):
    def __init__(self, steps: Iterable[_Step], started: float, abort: bool, request: Any) -> None:
        self._steps, self._started, self._abort, self._request = steps, started, abort, request

    def __iter__(self) -> Iterator[bytes]:
        library = library_of(self._request)
        for step in self._steps:
            delay = self._started + step.wait_until - time.monotonic() if step.wait_until else 0.0
            if delay > 0:
                time.sleep(delay)
            if step.timeout_after is not None:
                time.sleep(step.timeout_after)
                raise library.ReadTimeout(
                    "replayed stream stalled past the read timeout", request=self._request
                )
            if step.data:
                yield step.data
        if self._abort:
            raise library.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=self._request
            )


class _AsyncReplayStream(httpx2.AsyncByteStream, httpx.AsyncByteStream):
    def __init__(self, steps: Iterable[_Step], started: float, abort: bool, request: Any) -> None:
        self._steps, self._started, self._abort, self._request = steps, started, abort, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        library = library_of(self._request)
        for step in self._steps:
            delay = self._started + step.wait_until - time.monotonic() if step.wait_until else 0.0
            if delay > 0:
                await asyncio.sleep(delay)
            if step.timeout_after is not None:
                await asyncio.sleep(step.timeout_after)
                raise library.ReadTimeout(
                    "replayed stream stalled past the read timeout", request=self._request
                )
            if step.data:
                yield step.data
        if self._abort:
            raise library.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=self._request
            )


class _Responder:
    """What both replay transports share: find the interaction, shape it, time it."""

    def __init__(self, player: CassettePlayer, options: ReplayOptions) -> None:
        self.player = player
        self.options = options
        self._scale = options.time_scale

    def plan(
        self, request: Any, interaction: Interaction
    ) -> tuple[ServedResponse, float, Iterable[_Step] | None]:
        """The response, how long to wait before its headers, and its steps (None: the headers
        never come within the read timeout)."""
        read_timeout = _read_timeout(request)
        options = self.options
        if (
            options.shape is served_from_interaction
            and options.chunking == "recorded"
            and not options.gzip_wire
        ):
            response = interaction.response  # served as recorded: its chunks are cut as they are read
            headers = (*served_headers(response), ("content-length", str(len(response.body))))
            served = ServedResponse(response.status, headers, (), reason=response.reason)
            return served, 0.0, _recorded_steps(response, self._scale, read_timeout)
        served = prepared(self.options.shape(interaction), self.options)
        header_wait = served.stall_before_headers
        if read_timeout is not None and header_wait * (self._scale or 1.0) > read_timeout:
            return served, (read_timeout if self._scale else 0.0), None
        return served, header_wait * self._scale, _steps(served, self._scale, read_timeout)

    def response(self, request: Any, served: ServedResponse, stream: Any) -> Any:
        return library_of(request).Response(
            served.status,
            headers=list(served.headers),
            stream=stream,
            # no recorded phrase: leave it out, so the library derives it from the status
            extensions={"http_version": b"HTTP/1.1"}
            | ({"reason_phrase": served.reason.encode("ascii", "replace")} if served.reason else {}),
        )


def _header_timeout(request: Any) -> Exception:
    return library_of(request).ReadTimeout(  # type: ignore[no-any-return]
        "no response headers within the read timeout", request=request
    )


class ReplayTransport(httpx2.BaseTransport, httpx.BaseTransport):
    """Serves a cassette to sync httpx2/httpx clients; misses go to ``fallback`` (recording) or fail."""

    def __init__(
        self,
        player: CassettePlayer,
        options: ReplayOptions | None = None,
        *,
        fallback: RecordingTransport | None = None,
        replays: bool = True,
    ) -> None:
        self._responder = _Responder(player, options or ReplayOptions())
        self._fallback = fallback
        self._replays = replays

    def handle_request(self, request: Any) -> Any:
        started = time.monotonic()
        sent = recorded_request(request, request.read())
        interaction = self._responder.player.take(sent) if self._replays else None
        if interaction is None:
            if self._fallback is None:
                raise self._responder.player.no_match(sent)
            return self._fallback.handle_request(request)
        served, header_wait, steps = self._responder.plan(request, interaction)
        if header_wait:
            time.sleep(header_wait)
        if steps is None:
            raise _header_timeout(request)
        return self._responder.response(request, served, _ReplayStream(steps, started, served.abort, request))

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()


class AsyncReplayTransport(httpx2.AsyncBaseTransport, httpx.AsyncBaseTransport):
    """Async twin of ``ReplayTransport``."""

    def __init__(
        self,
        player: CassettePlayer,
        options: ReplayOptions | None = None,
        *,
        fallback: AsyncRecordingTransport | None = None,
        replays: bool = True,
    ) -> None:
        self._responder = _Responder(player, options or ReplayOptions())
        self._fallback = fallback
        self._replays = replays

    async def handle_async_request(self, request: Any) -> Any:
        started = time.monotonic()
        sent = recorded_request(request, await request.aread())
        interaction = self._responder.player.take(sent) if self._replays else None
        if interaction is None:
            if self._fallback is None:
                raise self._responder.player.no_match(sent)
            return await self._fallback.handle_async_request(request)
        served, header_wait, steps = self._responder.plan(request, interaction)
        if header_wait:
            await asyncio.sleep(header_wait)
        if steps is None:
            raise _header_timeout(request)
        return self._responder.response(
            request, served, _AsyncReplayStream(steps, started, served.abort, request)
        )

    async def aclose(self) -> None:
        if self._fallback is not None:
            await self._fallback.aclose()


# -- one cassette, one record mode -----------------------------------------------------------


class _Unpatched:
    """A patched transport instance seen through its original methods (where recording sends)."""

    def __init__(self, instance: Any, original: Callable[..., Any]) -> None:
        self._instance, self._original = instance, original

    def handle_request(self, request: Any) -> Any:
        return self._original(self._instance, request)

    async def handle_async_request(self, request: Any) -> Any:
        return await self._original(self._instance, request)

    def close(self) -> None:
        """The patched instance belongs to its client, which closes it."""

    async def aclose(self) -> None:
        """The patched instance belongs to its client, which closes it."""


class CassetteSession:
    """One cassette opened in one record mode; hands out transports (see the module docstring)."""

    def __init__(
        self,
        path: str | Path,
        mode: RecordMode = "none",
        *,
        ignore_paths: Iterable[str] = (),
        options: ReplayOptions | None = None,
        metadata: dict[str, Any] | None = None,
        scrubber: Scrubber | None = None,
    ) -> None:
        if mode not in RECORD_MODES:
            raise CassetteError(path, f"record mode must be one of {RECORD_MODES}, got {mode!r}")
        self.path = Path(path)
        self.mode = mode
        self.options = options or ReplayOptions()
        exists = self.path.exists() and mode != "rewrite"  # rewrite starts from nothing
        if mode == "none" and not exists:
            raise CassetteError(self.path, "no such cassette (record mode 'none' never records)")
        loaded = load_cassette(self.path) if exists else None
        interactions = loaded.interactions if loaded is not None else []
        self.matcher = RequestMatcher(ignore_paths)
        self.player = CassettePlayer(self.path, interactions, self.matcher, scrubber)
        self.replays = mode in ("none", "new_episodes") or (mode == "once" and exists)
        records = mode in ("new_episodes", "all", "rewrite") or (mode == "once" and not exists)
        self.recorder = (
            CassetteRecorder(
                self.path,
                kept=interactions,
                metadata=metadata or (loaded.metadata if loaded is not None and loaded.metadata else None),
                scrubber=scrubber,
                supersedes=self._supersedes if mode == "all" else None,
            )
            if records
            else None
        )

    def _supersedes(self, new: Interaction, old: Interaction) -> bool:
        return self.matcher.matches(self.player.scrubbed(new.request), old.request)

    def transport(self, real: Any = None) -> ReplayTransport:
        """A sync transport for httpx2 or httpx clients; ``real`` sends what is recorded."""
        fallback = RecordingTransport(self.recorder, real) if self.recorder is not None else None
        return ReplayTransport(self.player, self.options, fallback=fallback, replays=self.replays)

    def async_transport(self, real: Any = None) -> AsyncReplayTransport:
        fallback = AsyncRecordingTransport(self.recorder, real) if self.recorder is not None else None
        return AsyncReplayTransport(self.player, self.options, fallback=fallback, replays=self.replays)

    @contextmanager
    def intercept(self) -> Iterator[CassetteSession]:
        """Route every httpx2/httpx ``HTTPTransport``/``AsyncHTTPTransport`` through this cassette."""

        def sync_patch(original: Callable[..., Any]) -> Callable[..., Any]:
            def handle_request(instance: Any, request: Any) -> Any:
                return self.transport(_Unpatched(instance, original)).handle_request(request)

            return handle_request

        def async_patch(original: Callable[..., Any]) -> Callable[..., Any]:
            async def handle_async_request(instance: Any, request: Any) -> Any:
                return await self.async_transport(_Unpatched(instance, original)).handle_async_request(
                    request
                )

            return handle_async_request

        patches = []
        for library in (httpx2, httpx):
            patches.append(
                mock.patch.object(
                    library.HTTPTransport, "handle_request", sync_patch(library.HTTPTransport.handle_request)
                )
            )
            patches.append(
                mock.patch.object(
                    library.AsyncHTTPTransport,
                    "handle_async_request",
                    async_patch(library.AsyncHTTPTransport.handle_async_request),
                )
            )
        for patch in patches:
            patch.start()
        try:
            yield self
        finally:
            for patch in reversed(patches):
                patch.stop()


@contextmanager
def use_cassette(
    path: str | Path,
    mode: RecordMode = "none",
    *,
    ignore_paths: Iterable[str] = (),
    pace: Pace = "instant",
    chunking: Chunking = "recorded",
    seed: int = 0,
    gzip_wire: bool = False,
    shape: Callable[[Interaction], ServedResponse] = served_from_interaction,
    metadata: dict[str, Any] | None = None,
    scrubber: Scrubber | None = None,
) -> Iterator[CassetteSession]:
    """Open ``path`` in ``mode`` for a ``with`` block; see the module docstring."""
    options = ReplayOptions(pace=pace, chunking=chunking, seed=seed, gzip_wire=gzip_wire, shape=shape)
    yield CassetteSession(
        path, mode, ignore_paths=ignore_paths, options=options, metadata=metadata, scrubber=scrubber
    )
