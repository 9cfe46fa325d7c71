"""Async clients over the official SDKs, reading response bodies raw: what every format's client shares.

Each wire format's client lives with its format (``formats/openai_chat.py``'s ``OpenAIClient``,
``formats/anthropic_messages.py``'s ``AnthropicClient``); this module holds their base class, the
response they hand out and the pool that shares them, and routes a provider to its format.

The SDK builds the request, holds auth, the base URL and retries, and raises its status errors
(``APIStatusError`` and friends, mapped by ``error_mapping.map_sdk_exception``). The body is never
parsed by the SDK: we get the ``httpx2`` response once its status is known, body unread, and its
decoded bytes go straight to our streaming interface. That skips the SDK's per-chunk object
construction (~83 µs per OpenAI chunk, PERF-FACTS.md §1) and keeps everything else the SDK does.

A request the SDK refuses to send (a required argument missing, a non-streamed call too long to
wait for) is an ``LLMBadRequestError``.

    client = OpenAIClient(api_key=..., base_url=..., transport=httpx2.MockTransport(handler))
    async with client.open("chat", {"model": "gpt-4o", "messages": [...], "stream": True}) as response:
        async for chunk in response.aiter_bytes():
            ...

Building a client costs ~20 ms (its SSL context), so share them: ``ClientPool`` hands out one
client per SDK and endpoint. A caller-supplied ``http_client`` (an ``httpx2.AsyncClient``) or
``transport`` is used as given; a supplied ``http_client`` stays the caller's to close.

httpx2 and the SDKs are imported only when a client is built: replaying cassettes reads the
format modules (their interfaces and error tables) and must not pay for importing them.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import AdapterConfigError, LLMBadRequestError
from .formats import format_for_request, formats_serving

if TYPE_CHECKING:
    import httpx2


def sdk_for_provider(provider: str) -> str:
    """``"anthropic"`` or ``"openai"``: which SDK (and error table) serves ``provider``."""
    return formats_serving(provider)[0].sdk


def api_for_request(provider: str, request_data: Mapping[str, Any]) -> str:
    """The wire format of a call, as the original routes it: ``messages``, ``chat`` or ``responses``."""
    return format_for_request(provider, request_data).api


class OpenedResponse:
    """A response whose status is 2xx (the SDK raised otherwise) and whose body is still unread."""

    def __init__(
        self,
        http_response: httpx2.Response,
        request_id_headers: tuple[str, ...] = ("x-request-id", "request-id"),
    ) -> None:
        self.http_response = http_response
        self.status: int = http_response.status_code
        self.headers: Mapping[str, str] = http_response.headers
        self.request_id: str | None = next(
            (value for name in request_id_headers if (value := http_response.headers.get(name))), None
        )

    def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives, content-decoded (gzip and friends)."""
        return self.http_response.aiter_bytes()

    async def read(self) -> bytes:
        return await self.http_response.aread()


class ProviderClient:
    """One SDK client, shared by every call to its endpoint."""

    sdk: ClassVar[str]
    apis: ClassVar[frozenset[str]]
    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id", "request-id")  # the first present
    _keyword_names: ClassVar[frozenset[str] | None] = None

    def __init__(
        self, http_client: httpx2.AsyncClient | None, transport: httpx2.AsyncBaseTransport | None
    ) -> None:
        if http_client is not None and transport is not None:
            raise AdapterConfigError("pass either http_client or transport, not both")
        self._owns_http_client = http_client is None
        if http_client is None:
            import httpx2

            http_client = httpx2.AsyncClient(transport=transport)
        self.http_client = http_client

    @asynccontextmanager
    async def open(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[OpenedResponse]:
        """Send ``request_data`` to ``api``; yields the response once its status is known."""
        if api not in self.apis:
            raise AdapterConfigError(
                f"{self.sdk} client cannot call api {api!r} (it serves {sorted(self.apis)})"
            )
        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(self._exchange(api, request_data))
            except (TypeError, ValueError) as exc:  # the SDK's own checks: missing arguments, too long
                raise LLMBadRequestError(
                    f"the {self.sdk} SDK refused to send the request: {exc}", provider=self.sdk
                ) from exc
            yield OpenedResponse(response, self.request_id_headers)

    def keyword_names(self, create: Callable[..., Any]) -> frozenset[str]:
        """The keyword names the SDK's ``create`` takes, read once per client class (each class
        calls one SDK method): ``inspect.signature`` was most of the cost of a client per call."""
        names: frozenset[str] | None = type(self).__dict__.get("_keyword_names")
        if names is None:
            names = frozenset(inspect.signature(create).parameters)
            type(self)._keyword_names = names
        return names

    def _exchange(
        self, api: str, request_data: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[httpx2.Response]:
        """The SDK's request for ``request_data``; its response with the body unread, closed on exit."""
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self.http_client.aclose()


def sdk_options(timeout: float | httpx2.Timeout | None, max_retries: int | None) -> dict[str, Any]:
    """An SDK client's ``timeout`` / ``max_retries`` keywords, for those given (None: the SDK's default)."""
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    if max_retries is not None:
        options["max_retries"] = max_retries
    return options


def as_keywords(known: frozenset[str], request_data: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for an SDK ``create``: request keys it does not know go in ``extra_body``."""
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in request_data.items():
        (kwargs if key in known else extra)[key] = value
    if extra:
        kwargs["extra_body"] = {**extra, **(kwargs.get("extra_body") or {})}
    return kwargs


class ClientPool:
    """Hands out one shared client per (SDK, base URL); all of them built with the same settings."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, str] | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_retries: int | None = None,
        timeout: float | httpx2.Timeout | None = None,
    ) -> None:
        self._api_keys = dict(api_keys or {})  # by provider; None: the SDK reads its environment variable
        self._http_client = http_client
        self._transport = transport
        self._max_retries = max_retries
        self._timeout = timeout
        self._clients: dict[tuple[object, str | None, str | None], ProviderClient] = {}

    def client_for(self, provider: str, base_url: str | None = None) -> ProviderClient:
        cls = formats_serving(provider)[0].client()  # every format of a provider has one client class
        api_key = self._api_keys.get(provider)
        key = (cls, base_url, api_key)
        client = self._clients.get(key)
        if client is None:
            retries = {} if self._max_retries is None else {"max_retries": self._max_retries}
            client = self._clients[key] = cls(
                api_key=api_key,
                base_url=base_url,
                http_client=self._http_client,
                transport=self._transport,
                timeout=self._timeout,
                **retries,
            )
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
