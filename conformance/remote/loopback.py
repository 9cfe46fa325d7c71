"""The battery's transport on a loopback HTTP server, for an adapter running in another interpreter.

``Loopback(call)`` listens on 127.0.0.1 (a port of its own, for one call) and answers each request
through ``call.http_client``, the suite's client over ``CaseTransport``: the served response (recorded,
faulted or re-chunked) reaches the adapter's real HTTP client with the same status, headers and
bytes, each chunk written (``Transfer-Encoding: chunked``) as the transport gives it, so a held or
paced tail is held and paced on the socket too. A response that ends with a dropped connection
(``abort``) closes the socket without the terminating chunk, as a real server's crash would.

Two things differ from in-process, both documented in the README: TCP may merge chunks written
back to back (the adapter's client can read two as one), and a response stalled before its
headers past the suite's read timeout is held back here until the adapter's client gives up (its
own read timeout, ``REMOTE_READ_TIMEOUT_S``), then the connection is dropped: a client without a
timeout of its own is never answered, where in-process it would get the response after the stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

import httpx2

from ..protocol import ConformanceCall

REMOTE_READ_TIMEOUT_S = (
    1.0  # the adapter's read timeout over a real socket: longer than every hold of the battery
)
STALL_HOLD_S = 3 * REMOTE_READ_TIMEOUT_S  # a stalled response is held back this long at most
MAX_HEAD_BYTES = 64 * 1024
ORIGIN_HEADER = "x-streamproof-origin"  # set by streamproof_remote when it routed a library's own client
# hop-by-hop and framing headers: this server frames the body itself
_DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "content-length", ORIGIN_HEADER}


class BadRequest(Exception):
    """A request this server cannot read (it answers 400 and closes)."""


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Method, target, headers and body of one HTTP/1.1 request (Content-Length or chunked)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise BadRequest("request head too long") from exc
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    fields = {name.lower(): value for name, value in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += await reader.readexactly(size + 2)
            del body[-2:]
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
        return method, target, headers, bytes(body)
    length = int(fields.get("content-length", "0"))
    return method, target, headers, await reader.readexactly(length)


class Loopback:
    """One call's loopback server; ``base_url`` is what the remote adapter gets as ``call.base_url``."""

    def __init__(self, call: ConformanceCall) -> None:
        self.call = call
        parts = urlsplit(call.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.path = parts.path.rstrip("/")
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> None:
        # bound by hand: asyncio's own start would resolve "127.0.0.1", which the suite's guard refuses
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self.server = await asyncio.start_server(self._accepted, sock=listener, limit=MAX_HEAD_BYTES)

    async def close(self) -> None:
        """Stops listening and ends every connection still served (none is left as a task)."""
        if self.server is not None:
            self.server.close()
        for task in list(self.handlers):
            task.cancel()
        if self.handlers:
            await asyncio.wait(self.handlers)
        if self.server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve(reader, writer))
        self.handlers.add(task)
        task.add_done_callback(self.handlers.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each chunk leaves when written
        try:
            await self._answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the adapter closed its connection (an early stop, its own timeout): nothing to answer
        except BadRequest as exc:
            with contextlib.suppress(ConnectionError):
                writer.write(f"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n{exc}".encode())
                await writer.drain()
        finally:
            writer.transport.abort() if writer.transport.is_closing() else writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, target, headers, body = await read_request(reader)
        fields = {name.lower(): value for name, value in headers}
        origin = fields.get(ORIGIN_HEADER, self.origin)
        request = httpx2.Request(
            method,
            origin + target,
            headers=[(name, value) for name, value in headers if name.lower() not in _DROPPED],
            content=body,
            # the suite's read timeout: the transport raises ReadTimeout exactly when the response
            # stalls past it (a real socket would, in-process); the adapter's own timeout is longer
            extensions={
                "timeout": {"connect": None, "read": self.call.timeout_s, "write": None, "pool": None}
            },
        )
        try:
            response = await self.call.http_client.send(request, stream=True)
        except httpx2.ReadTimeout:
            # held back until the adapter's own read timeout ends the wait (it closes the socket)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(), STALL_HOLD_S)
            writer.transport.abort()
            return
        try:
            head = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
            head += [
                f"{name}: {value}"
                for name, value in response.headers.multi_items()
                if name.lower() not in _DROPPED
            ]
            head += ["transfer-encoding: chunked", "connection: close"]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            await writer.drain()
            try:
                async for chunk in response.aiter_raw():
                    if chunk:
                        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        await writer.drain()
            except httpx2.RemoteProtocolError:  # the served response drops the connection here
                writer.transport.abort()
                return
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        finally:
            await response.aclose()
