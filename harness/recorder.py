"""Recording transports: tee a live response to the caller and write it to a cassette.

``RecordingTransport`` (sync) and ``AsyncRecordingTransport`` wrap a real transport and work with
``httpx2`` and ``httpx`` clients alike (each class derives from both libraries' transport base and
answers with the response type of the request's library)::

    recorder = CassetteRecorder("cassettes/openai/chat/text.yaml", metadata=new_metadata(source="live"))
    client = openai.OpenAI(http_client=httpx2.Client(transport=RecordingTransport(recorder)))

The response stream is passed through untouched and unbuffered: each network chunk reaches the
caller as it arrives, while its bytes and arrival time (seconds since the request was handed to
the transport) are kept. Arrival is when the caller's read got the chunk: with no buffer in
between, a caller that stops to work between reads stretches the recorded gaps (SDK streams
read promptly). A gzip/deflate body is decoded chunk by chunk, so the cassette keeps the
decoded bytes with their chunk boundaries. When the caller closes the response the interaction is
appended and the cassette is saved (scrubbed, atomically) at once, so a later crash loses nothing
already recorded. A caller that stops reading early still gets a complete recording: the rest of
the body is drained from the network before the stream is closed.

``CassetteRecorder(path)`` starts a new cassette (its first save replaces the file);
``CassetteRecorder.appending(path)`` keeps what the file holds. Record modes (none / once /
new_episodes / all) combine recording with replay: see ``replayer.use_cassette``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2

from .cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    new_metadata,
    save_cassette,
)
from .scrub import Scrubber

# Replacing: given a newly recorded interaction and an older one, whether the new one replaces it.
Supersedes = Callable[[Interaction, Interaction], bool]


class CassetteRecorder:
    """The cassette being written: the interactions kept from before, plus the ones recorded now.

    Thread-safe; every ``add`` saves the whole cassette atomically. With ``supersedes`` (record
    mode ``all``), a new interaction replaces the kept ones it matches, as vcrpy does.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        kept: list[Interaction] | None = None,
        metadata: dict[str, Any] | None = None,
        scrubber: Scrubber | None = None,
        supersedes: Supersedes | None = None,
    ) -> None:
        self.path = Path(path)
        self._kept = list(kept or [])
        self._recorded: list[Interaction] = []
        self._metadata = metadata
        self._scrubber = scrubber
        self._supersedes = supersedes
        self._lock = threading.Lock()

    @classmethod
    def appending(cls, path: str | Path, **kwargs: Any) -> CassetteRecorder:
        """A recorder that keeps what ``path`` already holds (when it exists) and appends to it."""
        path = Path(path)
        if not path.exists():
            return cls(path, **kwargs)
        existing = load_cassette(path)
        kwargs.setdefault("metadata", existing.metadata or None)
        return cls(path, kept=existing.interactions, **kwargs)

    @property
    def recorded(self) -> list[Interaction]:
        with self._lock:
            return list(self._recorded)

    def add(self, interaction: Interaction) -> None:
        with self._lock:
            self._recorded.append(interaction)
            if self._supersedes is not None:
                self._kept = [old for old in self._kept if not self._supersedes(interaction, old)]
            interactions = [
                Interaction(index=i, request=item.request, response=item.response)
                for i, item in enumerate(self._kept + self._recorded)
            ]
            save_cassette(
                self.path, Cassette(self.path, interactions, self._metadata_for(interactions)), self._scrubber
            )

    def _metadata_for(self, interactions: list[Interaction]) -> dict[str, Any]:
        if self._metadata is None:
            first = interactions[0]
            model = first.request.json()
            self._metadata = new_metadata(
                source="live",
                provider=first.provider,
                api=first.api,
                model=model.get("model") if isinstance(model, dict) else None,
            )
        return self._metadata


class _Capture:
    """The bytes and arrival times of one response, decoded; turned into an Interaction once."""

    def __init__(
        self, request: RecordedRequest, response: Any, started: float, recorder: CassetteRecorder
    ) -> None:
        self._request = request
        self._response = response
        self._started = started
        self._recorder = recorder
        self._pieces: list[bytes] = []
        self._ends: list[tuple[int, float]] = []
        self._length = 0
        self._done = False
        headers = _header_lists(response.headers)
        self._decoder = _decoder_for(response)
        if self._decoder is not None:  # we store the decoded body, so its encoding header goes
            headers = {
                k: v for k, v in headers.items() if k.lower() not in ("content-encoding", "content-length")
            }
        self._headers = headers

    def take(self, chunk: bytes) -> None:
        arrived = time.monotonic() - self._started
        self._append(self._decoder.decode(chunk) if self._decoder is not None else chunk, arrived)

    def take_decoded(self, data: bytes) -> None:
        self._decoder = None
        self._append(data, time.monotonic() - self._started)

    def _append(self, data: bytes, arrived: float) -> None:
        if data:
            self._pieces.append(data)
            self._length += len(data)
            self._ends.append((self._length, arrived))

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._decoder is not None:
            self._append(self._decoder.flush(), time.monotonic() - self._started)
        response = RecordedResponse(
            status=self._response.status_code,
            reason=self._response.reason_phrase,
            headers=Headers(self._headers),
            body=b"".join(self._pieces),
            chunks=self._ends,
        )
        self._recorder.add(Interaction(index=0, request=self._request, response=response))


class _Decoder:
    """Undoes a response's content encodings (``gzip``, ``deflate``, what else its library reads)
    incrementally, so each network chunk keeps its decoded bytes. Our own decoder objects: the
    response's cached one belongs to the client that is reading the same bytes."""

    def __init__(self, decoders: list[Any]) -> None:
        self._decoders = decoders  # in the order to apply: the last encoding applied comes first

    def decode(self, data: bytes) -> bytes:
        for decoder in self._decoders:
            data = _joined(decoder.decode(data))
        return data

    def flush(self) -> bytes:
        data = b""
        for decoder in self._decoders:
            data = _joined(decoder.decode(data)) + _joined(decoder.flush())
        return data


def _joined(output: bytes | Iterable[bytes]) -> bytes:
    """httpx decoders return bytes; httpx2's yield bounded pieces."""
    return output if isinstance(output, bytes) else b"".join(output)


def _decoder_for(response: Any) -> _Decoder | None:
    """None when the body is not encoded, or encoded in a way its library cannot read either (then
    the bytes and the header are kept as they came, and saving refuses them: what cannot be
    decoded cannot be scrubbed)."""
    supported = library_of(response)._decoders.SUPPORTED_DECODERS  # the client library's own table
    encodings = [
        value.strip().lower()
        for header in response.headers.get_list("content-encoding")
        for value in header.split(",")
        if value.strip().lower() not in ("", "identity")
    ]
    if not encodings or any(encoding not in supported for encoding in encodings):
        return None
    return _Decoder([supported[encoding]() for encoding in reversed(encodings)])


def _header_lists(headers: Any) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for name, value in headers.multi_items():
        lists.setdefault(name, []).append(value)
    return lists


def recorded_request(request: Any, body: bytes) -> RecordedRequest:
    """An httpx/httpx2 request as a cassette holds it (also used to match requests on replay)."""
    return RecordedRequest(
        method=request.method,
        uri=str(request.url),
        headers=Headers(_header_lists(request.headers)),
        body=body or None,
    )


class _TeeStream(httpx2.SyncByteStream, httpx.SyncByteStream):
    def __init__(self, inner: Any, capture: _Capture) -> None:
        self._inner = inner
        self._chunks: Iterator[bytes] = iter(inner)  # one iterator: close() drains what is left of it
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self._capture.take(chunk)
            yield chunk

    def close(self) -> None:
        try:
            for chunk in self._chunks:  # the caller stopped early: record the rest anyway
                self._capture.take(chunk)
        finally:
            self._inner.close()
            self._capture.finish()


class _AsyncTeeStream(httpx2.AsyncByteStream, httpx.AsyncByteStream):
    def __init__(self, inner: Any, capture: _Capture) -> None:
        self._inner = inner
        self._chunks: AsyncIterator[bytes] = inner.__aiter__()
        self._capture = capture

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self._capture.take(chunk)
            yield chunk

    async def aclose(self) -> None:
        try:
            async for chunk in self._chunks:
                self._capture.take(chunk)
        finally:
            await self._inner.aclose()
            self._capture.finish()


def library_of(message: Any) -> Any:
    """The module (httpx2 or httpx) a request or response belongs to: what answers it must match."""
    return httpx2 if isinstance(message, (httpx2.Request, httpx2.Response)) else httpx


def _as_recorder(cassette: CassetteRecorder | str | Path) -> CassetteRecorder:
    return cassette if isinstance(cassette, CassetteRecorder) else CassetteRecorder(cassette)


class RecordingTransport(httpx2.BaseTransport, httpx.BaseTransport):
    """Sync recording transport for httpx2 and httpx clients; ``inner`` defaults to a real
    ``HTTPTransport`` of the request's library (one per library, created on first use)."""

    def __init__(self, cassette: CassetteRecorder | str | Path, inner: Any = None) -> None:
        self.recorder = _as_recorder(cassette)
        self._inner = inner
        self._real: dict[Any, Any] = {}

    def _transport_for(self, library: Any) -> Any:
        if self._inner is not None:
            return self._inner
        if library not in self._real:
            self._real[library] = library.HTTPTransport()
        return self._real[library]

    def handle_request(self, request: Any) -> Any:
        started = time.monotonic()
        body = request.read()
        response = self._transport_for(library_of(request)).handle_request(request)
        capture = _Capture(recorded_request(request, body), response, started, self.recorder)
        if response.is_closed:  # built already read (``Response(content=...)``): nothing left to tee
            capture.take_decoded(response.content)
            capture.finish()
        else:
            response.stream = _TeeStream(response.stream, capture)
        return response

    def close(self) -> None:
        for transport in [self._inner, *self._real.values()]:
            if transport is not None:
                transport.close()


class AsyncRecordingTransport(httpx2.AsyncBaseTransport, httpx.AsyncBaseTransport):
    """Async twin of ``RecordingTransport``."""

    def __init__(self, cassette: CassetteRecorder | str | Path, inner: Any = None) -> None:
        self.recorder = _as_recorder(cassette)
        self._inner = inner
        self._real: dict[Any, Any] = {}

    def _transport_for(self, library: Any) -> Any:
        if self._inner is not None:
            return self._inner
        if library not in self._real:
            self._real[library] = library.AsyncHTTPTransport()
        return self._real[library]

    async def handle_async_request(self, request: Any) -> Any:
        started = time.monotonic()
        body = await request.aread()
        response = await self._transport_for(library_of(request)).handle_async_request(request)
        capture = _Capture(recorded_request(request, body), response, started, self.recorder)
        if response.is_closed:
            capture.take_decoded(response.content)
            capture.finish()
        else:
            response.stream = _AsyncTeeStream(response.stream, capture)
        return response

    async def aclose(self) -> None:
        for transport in [self._inner, *self._real.values()]:
            if transport is not None:
                await transport.aclose()
