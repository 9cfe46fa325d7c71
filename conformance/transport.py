"""The transport the suite hands to an adapter: one served response per call, chunked as the check wants.

``CaseTransport`` is an ``httpx2`` transport that answers every request with one ``ServedResponse``
(the recorded response, or a faulty one from ``harness.faults``), cut into the chunks the check
asks for, and keeps the requests it was sent (for the request-fidelity check). It can hold back the
last chunk until the caller releases it (the true-streaming check) and then pace it a while later,
enforces the read timeout the client itself sent on a stalled response the way a socket would (a
client without one waits the stall out), and drops the connection when the served response says
``abort``.

``intercept_pools(transport)`` routes the connection pools of ``httpx2`` and ``httpx`` to it, so a
client a library builds itself is served from the cassette too and never reaches the network.
``guard_network()`` refuses, and records, every other way out during a call: sockets (aiohttp,
urllib, raw), sync ``httpx`` / ``httpx2`` clients and name resolution; the case then fails naming
the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2

from ..harness.network import blocked_network
from ..harness.served import ServedResponse


@dataclass(frozen=True)
class SentRequest:
    method: str
    url: str
    body: Any  # the JSON the adapter sent (None when the body is not JSON)


class _ServedStream(httpx2.AsyncByteStream):
    """The body as a socket gives it: read again (the openai SDK drains a stream after ``[DONE]``),
    it goes on from where the last read stopped, never from the first byte."""

    def __init__(self, transport: CaseTransport, chunks: Sequence[bytes], abort: bool) -> None:
        self._transport = transport
        self._chunks = chunks
        self._abort = abort
        self._next = 0  # the first chunk not yet delivered

    async def __aiter__(self) -> AsyncIterator[bytes]:
        last = len(self._chunks) - 1
        while self._next <= last:
            number, chunk = self._next, self._chunks[self._next]
            hold = self._transport.hold_last
            if number == last and hold is not None:
                with contextlib.suppress(asyncio.TimeoutError):  # a consumer that buffers never releases it
                    await asyncio.wait_for(hold.wait(), self._transport.hold_timeout_s)
                if hold.is_set() and self._transport.tail_delay_s:
                    await asyncio.sleep(
                        self._transport.tail_delay_s
                    )  # a paced tail, well after the first event
            if number == last:
                self._transport.last_byte_delivered = True
            self._next += 1  # delivered once yielded, even to a consumer that stops there
            yield chunk
        if self._abort:
            raise httpx2.RemoteProtocolError("peer closed connection without sending complete message body")


class CaseTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        served: ServedResponse,
        chunks: Sequence[bytes] | None = None,
        *,
        read_timeout_s: float | None = None,
        hold_last_chunk: bool = False,
        hold_timeout_s: float = 0.5,
        tail_delay_s: float = 0.0,
    ) -> None:
        self.served = served
        self.chunks = list(chunks) if chunks is not None else [c.data for c in served.chunks if c.data]
        self.read_timeout_s = read_timeout_s
        self.hold_last = asyncio.Event() if hold_last_chunk else None
        self.hold_timeout_s = hold_timeout_s
        self.tail_delay_s = tail_delay_s
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
            # the client's own read timeout, as a socket would enforce it: never one on its behalf
            limit = _read_timeout(request, self.read_timeout_s)
            if limit is not None and stall > limit:
                await asyncio.sleep(limit)
                raise httpx2.ReadTimeout("timed out waiting for the response", request=request)
            await asyncio.sleep(stall)
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


def _read_timeout(request: httpx2.Request, default: float | None) -> float | None:
    """The read timeout the client sent with the request (httpx and httpx2 put it in the request's
    ``timeout`` extension); ``default`` when it sent none."""
    timeout = request.extensions.get("timeout")
    if isinstance(timeout, dict) and "read" in timeout:
        read = timeout["read"]
        return float(read) if isinstance(read, (int, float)) else None
    return default


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
            extensions={"timeout": request.extensions["timeout"]}
            if "timeout" in request.extensions
            else None,
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


class NetworkAttempts:
    """The hosts something tried to reach during a call, outside the cassette."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def blocked(self, where: str) -> str:
        self.hosts.append(where)
        return f"streamproof: a connection to {where} outside the cassette was refused during the call"

    def refusal(self, host: str, port: object, attempt: str) -> OSError:
        """What the library sees: a failed lookup or a refused connection, as on a closed network."""
        where = f"{host}:{port}" if port not in (None, 0, "") else host
        if attempt == "resolve":
            return socket.gaierror(socket.EAI_NONAME, self.blocked(f"{where} (name resolution)"))
        return ConnectionRefusedError(self.blocked(where))


@contextlib.contextmanager
def guard_network(attempts: NetworkAttempts) -> Iterator[None]:
    """While active, name resolution and IP socket connections (``harness.network``) and sync httpx /
    httpx2 requests (named by URL) are refused and recorded in ``attempts``; Unix sockets stay open:
    they do not leave the machine."""

    def modern_sync(_transport: object, request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(attempts.blocked(str(request.url)), request=request)

    def legacy_sync(_transport: object, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(attempts.blocked(str(request.url)), request=request)

    saved = (httpx2.HTTPTransport.handle_request, httpx.HTTPTransport.handle_request)
    httpx2.HTTPTransport.handle_request = modern_sync  # type: ignore[method-assign,assignment]
    httpx.HTTPTransport.handle_request = legacy_sync  # type: ignore[method-assign,assignment]
    try:
        with blocked_network(refuse=attempts.refusal):
            yield
    finally:
        httpx2.HTTPTransport.handle_request, httpx.HTTPTransport.handle_request = saved  # type: ignore[method-assign]
