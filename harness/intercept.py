"""Routing every httpx2 / httpx client through a cassette, without building its network transport.

``routed_through(session)`` makes, for a ``with`` block, ``HTTPTransport`` and ``AsyncHTTPTransport``
of httpx2 and httpx answer from ``session`` (a ``replayer.CassetteSession``): what ``httpx2.Client()``
builds, what a user passes as ``http_client=``, and what the OpenAI and Anthropic SDKs build for
themselves when given none. A transport built inside the block defers its connection pool, and
with it the SSL context (~20 ms to build: most of a short replayed test), until a request really
goes to the network: when recording, or when the client is used after the block.

aiohttp is not intercepted: while a block is active, a request through ``aiohttp.ClientSession``
raises ``CassetteError`` saying so (when aiohttp is imported at all), instead of reaching the network.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import httpx
import httpx2

from ..adapters.errors import CassetteError
from .replayer import CassetteSession


class DeferredPool:
    """Stands in for a transport's connection pool until a request needs the real one."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._pool: Any = None

    @property
    def built(self) -> bool:
        return self._pool is not None

    def _real(self) -> Any:
        if self._pool is None:
            self._pool = self._build()
        return self._pool

    def handle_request(self, request: Any) -> Any:
        return self._real().handle_request(request)

    async def handle_async_request(self, request: Any) -> Any:
        return await self._real().handle_async_request(request)

    def close(self) -> None:
        if self._pool is not None:  # never built: nothing to close (and no SSL context to build for it)
            self._pool.close()

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    def __enter__(self) -> DeferredPool:
        if self._pool is not None:
            self._pool.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.__exit__(*exc)

    async def __aenter__(self) -> DeferredPool:
        if self._pool is not None:
            await self._pool.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._pool is not None:
            await self._pool.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:  # anything else a caller reads from a pool
        return getattr(self._real(), name)


class _Original:
    """A transport instance seen through its class's unpatched method: where recording sends."""

    def __init__(self, instance: Any, method: Callable[..., Any]) -> None:
        self._instance, self._method = instance, method

    def handle_request(self, request: Any) -> Any:
        return self._method(self._instance, request)

    async def handle_async_request(self, request: Any) -> Any:
        return await self._method(self._instance, request)

    def close(self) -> None:
        """The instance belongs to its client, which closes it."""

    async def aclose(self) -> None:
        """The instance belongs to its client, which closes it."""


def _deferred_init(original: Callable[..., Any]) -> Callable[..., None]:
    def __init__(instance: Any, *args: Any, **kwargs: Any) -> None:
        def build() -> Any:
            shell = object.__new__(type(instance))
            original(shell, *args, **kwargs)
            return shell._pool

        instance._pool = DeferredPool(build)

    return __init__


def _sync_route(session: CassetteSession, original: Callable[..., Any]) -> Callable[..., Any]:
    def handle_request(instance: Any, request: Any) -> Any:
        return session.transport(_Original(instance, original)).handle_request(request)

    return handle_request


def _async_route(session: CassetteSession, original: Callable[..., Any]) -> Callable[..., Any]:
    async def handle_async_request(instance: Any, request: Any) -> Any:
        return await session.async_transport(_Original(instance, original)).handle_async_request(request)

    return handle_async_request


def _aiohttp_refusal(session: CassetteSession) -> Callable[..., Any]:
    async def _request(client: Any, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        raise CassetteError(
            session.path,
            f"{method} {url} went through aiohttp, which streamproof cassettes do not intercept; "
            "give the library an httpx2 or httpx client (the OpenAI and Anthropic SDKs' default)",
        )

    return _request


@contextmanager
def routed_through(session: CassetteSession) -> Iterator[CassetteSession]:
    """Every httpx2/httpx HTTP transport answers from ``session`` inside the block (module docstring)."""
    with ExitStack() as stack:
        for library in (httpx2, httpx):
            for cls, method, route in (
                (library.HTTPTransport, "handle_request", _sync_route),
                (library.AsyncHTTPTransport, "handle_async_request", _async_route),
            ):
                stack.enter_context(mock.patch.object(cls, "__init__", _deferred_init(cls.__init__)))
                stack.enter_context(mock.patch.object(cls, method, route(session, getattr(cls, method))))
        aiohttp = sys.modules.get("aiohttp")
        if aiohttp is not None:
            stack.enter_context(
                mock.patch.object(aiohttp.ClientSession, "_request", _aiohttp_refusal(session))
            )
        yield session
