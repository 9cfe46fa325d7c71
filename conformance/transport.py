"""The transport the suite hands to an adapter: one served response per call, chunked as the check wants.

``CaseTransport`` is an ``httpx2`` transport that answers every request with one ``ServedResponse``
(the recorded response, or a faulty one from ``harness.faults``), cut into the chunks the check
asks for, and keeps the requests it was sent (for the request-fidelity check). It can hold back the
last chunk until the caller releases it (the true-streaming check), enforces the client's read
timeout on a stalled response the way a socket would, and drops the connection when the served
response says ``abort``.

``intercept_pools(transport)`` routes the connection pools of ``httpx2`` and ``httpx`` to it, so a
client a library builds itself is served from the cassette too and never reaches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2

from ..harness.served import ServedResponse


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    body: Any  # the JSON the adapter sent (None when the body is not JSON)


class _ServedStream(httpx2.AsyncByteStream):
    def __init__(self, transport: CaseTransport, chunks: Sequence[bytes], abort: bool) -> None:
        self._transport = transport
        self._chunks = chunks
        self._abort = abort

    async def __aiter__(self) -> AsyncIterator[bytes]:
        last = len(self._chunks) - 1
        for number, chunk in enumerate(self._chunks):
            hold = self._transport.hold_last
            if number == last and hold is not None:
                with contextlib.suppress(asyncio.TimeoutError):  # a consumer that buffers never releases it
                    await asyncio.wait_for(hold.wait(), self._transport.hold_timeout_s)
            if number == last:
                self._transport.last_byte_delivered = True
            yield chunk
        if self._abort:
            raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")


class CaseTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        served: ServedResponse,
        chunks: Sequence[bytes] | None = None,
        *,
        read_timeout_s: float = 2.0,
        hold_last_chunk: bool = False,
        hold_timeout_s: float = 0.5,
    ) -> None:
        self.served = served
        self.chunks = list(chunks) if chunks is not None else [c.data for c in served.chunks if c.data]
        self.read_timeout_s = read_timeout_s
        self.hold_last = asyncio.Event() if hold_last_chunk else None
        self.hold_timeout_s = hold_timeout_s
        self.last_byte_delivered = False
        self.requests: list[SentRequest] = []

    def release(self) -> None:
        if self.hold_last is not None:
            self.hold_last.set()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        content = await request.aread()
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        self.requests.append(SentRequest(request.method, str(request.url), body))
        stall = self.served.stall_before_headers
        if stall:
            await asyncio.sleep(min(stall, self.read_timeout_s))
            if stall > self.read_timeout_s:
                raise httpx2.ReadTimeout("timed out waiting for the response", request=request)
        return httpx2.Response(
            self.served.status,
            headers=list(self.served.headers),
            stream=_ServedStream(self, self.chunks, self.served.abort),
            request=request,
        )


def legacy_error(exc: httpx2.TransportError, request: httpx.Request) -> httpx.TransportError:
    """The ``httpx`` exception of the same name (``ReadTimeout``, ``RemoteProtocolError``, ...) for
    an ``httpx`` client: it must never see the other library's classes; ``.request`` is set."""
    found = getattr(httpx, type(exc).__name__, None)
    legacy = (
        found if isinstance(found, type) and issubclass(found, httpx.TransportError) else httpx.TransportError
    )
    return legacy(str(exc), request=request)


class _LegacyStream(httpx.AsyncByteStream):
    def __init__(self, stream: httpx2.AsyncByteStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx2.TransportError as exc:
            raise legacy_error(exc, self._request) from exc


@contextlib.contextmanager
def intercept_pools(transport: CaseTransport) -> Iterator[None]:
    """While active, every httpx2 / httpx async connection pool is answered by ``transport``."""

    async def modern(_pool: object, request: httpx2.Request) -> httpx2.Response:
        return await transport.handle_async_request(request)

    async def legacy(_pool: object, request: httpx.Request) -> httpx.Response:
        modern_request = httpx2.Request(
            request.method,
            str(request.url),
            headers=list(request.headers.items()),
            content=await request.aread(),
        )
        try:
            served = await transport.handle_async_request(modern_request)
        except httpx2.TransportError as exc:
            raise legacy_error(exc, request) from exc
        stream = served.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        return httpx.Response(
            served.status_code, headers=list(served.headers.items()), stream=_LegacyStream(stream, request)
        )

    saved = (httpx2.AsyncHTTPTransport.handle_async_request, httpx.AsyncHTTPTransport.handle_async_request)
    httpx2.AsyncHTTPTransport.handle_async_request = modern  # type: ignore[method-assign,assignment]
    httpx.AsyncHTTPTransport.handle_async_request = legacy  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        httpx2.AsyncHTTPTransport.handle_async_request, httpx.AsyncHTTPTransport.handle_async_request = saved  # type: ignore[method-assign]
