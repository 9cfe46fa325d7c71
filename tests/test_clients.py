"""SDK clients: routing as in the original, shared clients, caller-supplied HTTP clients and transports,
requests built by the SDK (auth, base URL, fields it does not know), bodies read raw."""

from __future__ import annotations

import httpx2
import orjson
import pytest

from streamproof.adapters.clients import ClientPool, api_for_request, sdk_for_provider
from streamproof.adapters.errors import AdapterConfigError, LLMBadRequestError
from streamproof.adapters.formats.anthropic_messages import AnthropicClient
from streamproof.adapters.formats.bedrock_messages import BedrockClient
from streamproof.adapters.formats.openai_chat import OpenAIClient

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "m", "input": "hi"}


@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "minimax"])
def test_anthropic_family_speaks_messages(provider: str) -> None:
    assert sdk_for_provider(provider) == "anthropic"
    assert api_for_request(provider, CHAT) == "messages"
    assert api_for_request(provider, RESPONSES) == "messages"


@pytest.mark.parametrize(
    "provider", ["openai", "openrouter", "deepseek", "groq", "mistral", "ollama", "vllm", "lmstudio"]
)
def test_openai_family_speaks_chat_or_responses(provider: str) -> None:
    assert sdk_for_provider(provider) == "openai"
    assert api_for_request(provider, CHAT) == "chat"
    assert api_for_request(provider, RESPONSES) == "responses"
    assert api_for_request(provider, {**RESPONSES, "messages": []}) == "chat"  # input alone means Responses


def test_unknown_provider_names_itself_and_the_known_ones() -> None:
    with pytest.raises(AdapterConfigError, match=r"unknown provider 'gemini'.*openrouter"):
        api_for_request("gemini", CHAT)


async def test_pool_shares_one_client_per_sdk_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # Bedrock's client needs a region
    keys = {"openai": "sk-o", "groq": "gsk", "anthropic": "sk-a", "bedrock": "sk-a", "minimax": "sk-a"}
    pool = ClientPool(transport=httpx2.MockTransport(lambda r: httpx2.Response(200)), api_keys=keys)
    try:
        openai_client = pool.client_for("openai")
        assert pool.client_for("openai") is openai_client
        assert isinstance(openai_client, OpenAIClient)
        assert pool.client_for("openai", "http://127.0.0.1:1/v1") is not openai_client
        assert pool.client_for("groq") is not openai_client  # another key
        assert isinstance(pool.client_for("bedrock"), BedrockClient)  # Bedrock's own, over AsyncAnthropicBedrock
        assert pool.client_for("minimax") is pool.client_for("anthropic")  # same SDK, endpoint and key
    finally:
        await pool.aclose()


async def test_request_is_built_by_the_sdk_and_the_body_is_read_raw() -> None:
    received: list[httpx2.Request] = []
    body = b"data: whatever the server sends\n\n"

    def handler(request: httpx2.Request) -> httpx2.Response:
        received.append(request)
        return httpx2.Response(
            200, headers={"content-type": "text/event-stream", "x-request-id": "req_9"}, content=body
        )

    client = OpenAIClient(
        api_key="sk-abc", base_url="http://127.0.0.1:9/v1", transport=httpx2.MockTransport(handler)
    )
    try:
        async with client.open(
            "chat", {**CHAT, "stream": True, "top_k": 3, "provider": {"order": ["x"]}}
        ) as response:
            chunks = [chunk async for chunk in response.aiter_bytes()]
        async with client.open("responses", RESPONSES) as response:
            assert await response.read() == body
    finally:
        await client.aclose()
    assert b"".join(chunks) == body and response.request_id == "req_9" and response.status == 200
    chat, responses = received
    assert str(chat.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert str(responses.url) == "http://127.0.0.1:9/v1/responses"
    assert chat.headers["authorization"] == "Bearer sk-abc"
    sent = orjson.loads(chat.content)
    assert sent["top_k"] == 3 and sent["provider"] == {"order": ["x"]} and sent["stream"] is True


async def test_anthropic_client_sends_its_key_and_version_to_messages() -> None:
    received: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        received.append(request)
        return httpx2.Response(200, json={"ok": True})

    client = AnthropicClient(api_key="sk-ant", transport=httpx2.MockTransport(handler))
    try:
        data = {"model": "c", "max_tokens": 5, "messages": [], "temperature": 0.2, "top_k": 5}
        async with client.open("messages", data) as response:
            assert orjson.loads(await response.read()) == {"ok": True}
        with pytest.raises(AdapterConfigError, match="cannot call api 'chat'"):
            async with client.open("chat", CHAT):
                pass
    finally:
        await client.aclose()
    (request,) = received
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    credentials = request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
    assert "sk-ant" in credentials and "anthropic-version" in request.headers
    sent = orjson.loads(request.content)
    assert (sent["temperature"], sent["top_k"], sent["max_tokens"]) == (0.2, 5, 5)  # known or not, all sent


async def test_a_callers_http_client_is_used_and_left_open() -> None:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        return httpx2.Response(200, json={})

    http_client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    client = OpenAIClient(api_key="sk-x", http_client=http_client)
    async with client.open("chat", CHAT) as response:
        await response.read()
    await client.aclose()
    assert calls == ["/v1/chat/completions"]
    assert not http_client.is_closed  # the caller's to close
    await http_client.aclose()
    with pytest.raises(AdapterConfigError, match="either http_client or transport"):
        OpenAIClient(api_key="sk-x", http_client=http_client, transport=httpx2.MockTransport(handler))


def test_missing_credentials_are_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    transport = httpx2.MockTransport(lambda r: httpx2.Response(200))
    with pytest.raises(AdapterConfigError, match="OPENAI_API_KEY"):
        OpenAIClient(transport=transport)
    with pytest.raises(AdapterConfigError, match="ANTHROPIC_API_KEY"):
        AnthropicClient(transport=transport)


async def test_a_request_the_sdk_refuses_to_send_is_a_bad_request() -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200)

    client = AnthropicClient(api_key="sk-ant", transport=httpx2.MockTransport(handler))
    try:
        with pytest.raises(
            LLMBadRequestError, match=r"anthropic SDK refused to send the request: .*max_tokens"
        ):
            async with client.open("messages", {"model": "c", "messages": []}):
                pass
        with pytest.raises(LLMBadRequestError, match="Streaming is required"):
            async with client.open("messages", {"model": "c", "messages": [], "max_tokens": 1_000_000}):
                pass
    finally:
        await client.aclose()
    assert sent == []
