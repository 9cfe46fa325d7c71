"""Async clients over the official ``openai`` and ``anthropic`` SDKs, reading response bodies raw.

The SDK builds the request, holds auth, the base URL and retries, and raises its status errors
(``APIStatusError`` and friends, mapped by ``error_mapping.map_sdk_exception``). The body is never
parsed by the SDK: we get the ``httpx2`` response once its status is known, body unread, and its
decoded bytes go straight to our streaming interface. That skips the SDK's per-chunk object
construction (~83 µs per OpenAI chunk, PERF-FACTS.md §1) and keeps everything else the SDK does.

The cheapest such path differs per SDK:

- OpenAI: ``AsyncOpenAI.post(path, cast_to=httpx2.Response, stream=True)``, the call the typed
  ``create`` methods end in, minus their walk over the parameters (measured: ~0.5 ms instead of
  ~0.9 ms per request); request fields go out as given, known to the SDK or not.
- Anthropic: ``messages.with_streaming_response.create(...)``, because ``create`` does more than
  send (it turns some parameters into headers and sets a timeout for long non-streamed calls);
  request keys it has no parameter for travel in ``extra_body``.

A request the SDK refuses to send (a required argument missing, a non-streamed call too long to
wait for) is an ``LLMBadRequestError``.

    client = OpenAIClient(api_key=..., base_url=..., transport=httpx2.MockTransport(handler))
    async with client.open("chat", {"model": "gpt-4o", "messages": [...], "stream": True}) as response:
        async for chunk in response.aiter_bytes():
            ...

Building a client costs ~20 ms (its SSL context), so share them: ``ClientPool`` hands out one
client per SDK and endpoint. A caller-supplied ``http_client`` (an ``httpx2.AsyncClient``) or
``transport`` is used as given; a supplied ``http_client`` stays the caller's to close.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, ClassVar

import anthropic
import httpx2
import openai

from .errors import AdapterConfigError, LLMBadRequestError

ANTHROPIC_PROVIDERS = frozenset({"anthropic", "bedrock", "minimax"})
OPENAI_PROVIDERS = frozenset(
    {"openai", "openrouter", "deepseek", "groq", "mistral", "ollama", "vllm", "lmstudio"}
)


def sdk_for_provider(provider: str) -> str:
    """``"anthropic"`` or ``"openai"``: which SDK (and error table) serves ``provider``."""
    if provider in ANTHROPIC_PROVIDERS:
        return "anthropic"
    if provider in OPENAI_PROVIDERS:
        return "openai"
    known = ", ".join(sorted(ANTHROPIC_PROVIDERS | OPENAI_PROVIDERS))
    raise AdapterConfigError(f"unknown provider {provider!r}; expected one of: {known}")


def api_for_request(provider: str, request_data: Mapping[str, Any]) -> str:
    """The wire format of a call, as the original routes it: ``messages``, ``chat`` or ``responses``."""
    if sdk_for_provider(provider) == "anthropic":
        return "messages"
    return "responses" if "input" in request_data and "messages" not in request_data else "chat"


class OpenedResponse:
    """A response whose status is 2xx (the SDK raised otherwise) and whose body is still unread."""

    def __init__(self, http_response: httpx2.Response) -> None:
        self.http_response = http_response
        self.status: int = http_response.status_code
        self.headers: Mapping[str, str] = http_response.headers
        self.request_id: str | None = http_response.headers.get("x-request-id") or http_response.headers.get(
            "request-id"
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

    def __init__(
        self, http_client: httpx2.AsyncClient | None, transport: httpx2.AsyncBaseTransport | None
    ) -> None:
        if http_client is not None and transport is not None:
            raise AdapterConfigError("pass either http_client or transport, not both")
        self._owns_http_client = http_client is None
        self.http_client = http_client or httpx2.AsyncClient(transport=transport)

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
            yield OpenedResponse(response)

    def _exchange(
        self, api: str, request_data: Mapping[str, Any]
    ) -> AbstractAsyncContextManager[httpx2.Response]:
        """The SDK's request for ``request_data``; its response with the body unread, closed on exit."""
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._owns_http_client:
            await self.http_client.aclose()


class OpenAIClient(ProviderClient):
    sdk = "openai"
    apis = frozenset({"chat", "responses"})
    paths: ClassVar[dict[str, str]] = {"chat": "/chat/completions", "responses": "/responses"}

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_retries: int = openai.DEFAULT_MAX_RETRIES,
        timeout: float | httpx2.Timeout | None = None,
    ) -> None:
        super().__init__(http_client, transport)
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            self.sdk_client = openai.AsyncOpenAI(
                api_key=api_key,
                base_url=base_url,
                http_client=self.http_client,
                max_retries=max_retries,
                **options,
            )
        except openai.OpenAIError as exc:  # no key given and none in OPENAI_API_KEY, and the like
            raise AdapterConfigError(f"cannot build the openai client: {exc}") from exc

    @asynccontextmanager
    async def _exchange(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[httpx2.Response]:
        # ``post`` is what the typed ``create`` methods end in, minus their per-call walk over the
        # parameters (about half the SDK's ~0.9 ms per request); fields the SDK does not know
        # (OpenRouter's ``provider``, vLLM's ``top_k``) go through as they are.
        response = await self.sdk_client.post(
            self.paths[api],
            cast_to=httpx2.Response,
            body=dict(request_data),
            options={"security": {"bearer_auth": True}},
            stream=True,
        )
        try:
            yield response
        finally:
            await response.aclose()


class AnthropicClient(ProviderClient):
    sdk = "anthropic"
    apis = frozenset({"messages"})

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_retries: int = anthropic.DEFAULT_MAX_RETRIES,
        timeout: float | httpx2.Timeout | None = None,
    ) -> None:
        super().__init__(http_client, transport)
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        self.sdk_client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            http_client=self.http_client,
            max_retries=max_retries,
            **options,
        )
        self._create = self.sdk_client.with_streaming_response.messages.create
        self._parameters = frozenset(inspect.signature(self._create).parameters)
        if self.sdk_client.api_key is None and self.sdk_client.auth_token is None:
            # the SDK would fail only at the first request, with a TypeError
            raise AdapterConfigError(
                "cannot build the anthropic client: no api_key given and neither ANTHROPIC_API_KEY"
                " nor ANTHROPIC_AUTH_TOKEN is set"
            )

    @asynccontextmanager
    async def _exchange(self, api: str, request_data: Mapping[str, Any]) -> AsyncIterator[httpx2.Response]:
        # ``messages.create`` does more than send (headers from parameters, a timeout for long
        # non-streamed calls), so it is used as is; its raw-response form leaves the body unread.
        async with self._create(**_as_keywords(self._parameters, request_data)) as response:
            yield response.http_response


def _as_keywords(known: frozenset[str], request_data: Mapping[str, Any]) -> dict[str, Any]:
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
        self._clients: dict[tuple[str, str | None, str | None], ProviderClient] = {}

    def client_for(self, provider: str, base_url: str | None = None) -> ProviderClient:
        sdk = sdk_for_provider(provider)
        api_key = self._api_keys.get(provider)
        key = (sdk, base_url, api_key)
        client = self._clients.get(key)
        if client is None:
            cls: type[OpenAIClient] | type[AnthropicClient] = (
                AnthropicClient if sdk == "anthropic" else OpenAIClient
            )
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
