"""A user's own tests, written the way a team testing its application would write them.

Only the public API: the ``cassette`` marker and fixture, the real OpenAI and Anthropic SDKs, sync
and async, streamed and not, with clients the test builds (``http_client=``) and clients the SDK
builds itself. ``tests/test_user_cassettes.py`` copies this file into a scratch folder and runs
it with pytest twice: recording against the emulator (``--record-mode once``), then replaying with
the emulator stopped and the network blocked. Each test writes what its SDK saw (the network
chunks where the test can watch them, the parsed events, the result) to ``$USER_STYLE_OUT``.

Not collected by the project's own run (the file name does not start with ``test_``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

BASE = os.environ.get("USER_STYLE_BASE_URL", "http://127.0.0.1:9")  # the emulator while recording
OUT = Path(os.environ.get("USER_STYLE_OUT", "."))
PHASE = os.environ.get("USER_STYLE_PHASE", "record")
SERVICE_TOKEN = os.environ.get("USER_STYLE_SERVICE_TOKEN", "")  # planted: must never reach a file
PROMPT = [{"role": "user", "content": f"Summarise the ticket (reply as account {SERVICE_TOKEN})"}]


def observed(name: str, **what: Any) -> None:
    (OUT / f"{PHASE}-{name}.json").write_text(json.dumps(what, sort_keys=True), encoding="utf-8")


class _SpyStream(httpx2.SyncByteStream, httpx.SyncByteStream):
    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner, self._seen = inner, seen

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._seen.append(chunk.decode("latin-1"))
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _AsyncSpyStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, seen: list[str]) -> None:
        self._inner, self._seen = inner, seen

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._seen.append(chunk.decode("latin-1"))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Spy(httpx2.BaseTransport, httpx.BaseTransport):
    """Wraps the transport a client would use and notes every chunk of the response body."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.chunks = inner, []

    def handle_request(self, request: Any) -> Any:
        response = self.inner.handle_request(request)
        library = httpx2 if isinstance(request, httpx2.Request) else httpx
        return library.Response(
            response.status_code,
            headers=response.headers,
            stream=_SpyStream(response.stream, self.chunks),
            extensions=response.extensions,
        )


class AsyncSpy(httpx2.AsyncBaseTransport):
    def __init__(self, inner: Any) -> None:
        self.inner, self.chunks = inner, []

    async def handle_async_request(self, request: Any) -> Any:
        response = await self.inner.handle_async_request(request)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_AsyncSpyStream(response.stream, self.chunks),
            extensions=response.extensions,
        )


@pytest.mark.cassette
def test_openai_chat_streamed_sync_own_client(cassette: Any) -> None:
    spy = Spy(httpx2.HTTPTransport())
    client = openai.OpenAI(base_url=f"{BASE}/v1", http_client=httpx2.Client(transport=spy))
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, stream=True)
    events = [chunk.model_dump(mode="json") for chunk in stream]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text
    observed("openai_chat_streamed_sync", chunks=spy.chunks, events=events, text=text)


@pytest.mark.cassette
async def test_openai_chat_streamed_async_library_client(cassette: Any) -> None:
    client = openai.AsyncOpenAI(base_url=f"{BASE}/v1")  # the SDK builds its own httpx2 client
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT, stream=True)
    events = [chunk.model_dump(mode="json") async for chunk in stream]
    assert events
    observed("openai_chat_streamed_async", events=events)


@pytest.mark.cassette
def test_openai_chat_not_streamed_legacy_httpx_client() -> None:
    spy = Spy(httpx.HTTPTransport())
    client = openai.OpenAI(base_url=f"{BASE}/v1", http_client=httpx.Client(transport=spy))
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert completion.choices[0].message.content
    observed("openai_chat_not_streamed", chunks=spy.chunks, result=completion.model_dump(mode="json"))


@pytest.mark.cassette
def test_anthropic_messages_streamed_sync_library_client() -> None:
    client = anthropic.Anthropic(base_url=BASE)
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=256, messages=PROMPT) as stream:
        events = [event.model_dump(mode="json") for event in stream]
        final = stream.get_final_message()
    observed("anthropic_streamed_sync", events=events, result=final.model_dump(mode="json"))


@pytest.mark.cassette
async def test_anthropic_messages_streamed_async_own_client(cassette: Any) -> None:
    spy = AsyncSpy(httpx2.AsyncHTTPTransport())
    client = anthropic.AsyncAnthropic(base_url=BASE, http_client=httpx2.AsyncClient(transport=spy))
    stream = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=256, messages=PROMPT, stream=True
    )
    events = [event.model_dump(mode="json") async for event in stream]
    assert events[-1]["type"] == "message_stop"
    observed(
        "anthropic_streamed_async",
        chunks=spy.chunks,
        events=events,
        calls=len(cassette.played + cassette.recorded),
    )


@pytest.mark.cassette
async def test_anthropic_messages_not_streamed_async_library_client() -> None:
    client = anthropic.AsyncAnthropic(base_url=BASE)
    message = await client.messages.create(model="claude-sonnet-4-5", max_tokens=256, messages=PROMPT)
    observed("anthropic_not_streamed", result=message.model_dump(mode="json"))


@pytest.mark.cassette
async def test_a_library_with_its_own_httpx_async_client() -> None:
    """Not an SDK: code that builds a plain (legacy) ``httpx.AsyncClient`` and streams by hand."""
    body = {"model": "gpt-4o-mini", "messages": PROMPT, "stream": True}
    headers = {"authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST", f"{BASE}/v1/chat/completions", json=body, headers=headers
        ) as response:
            chunks = [chunk.decode("latin-1") async for chunk in response.aiter_raw()]
    assert response.status_code == 200 and chunks
    observed("httpx_async_by_hand", chunks=chunks)


@pytest.mark.cassette
def test_two_turns(cassette: Any) -> None:
    """Two calls when recorded; ``USER_STYLE_TURNS=1`` makes it stop after the first (a changed test)."""
    client = openai.OpenAI(base_url=f"{BASE}/v1")
    turns = int(os.environ.get("USER_STYLE_TURNS", "2"))
    texts = []
    for turn in range(turns):
        word = os.environ.get("USER_STYLE_TURN_WORD", "turn")
        messages = [*PROMPT, {"role": "user", "content": f"{word} {turn}"}]
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        texts.append(completion.choices[0].message.content)
    observed("two_turns", texts=texts, turns=turns)


@pytest.mark.skipif(PHASE != "blocked", reason="only run with the network blocked")
def test_forgot_the_marker() -> None:
    """No cassette: under --block-network the SDK's connection is refused before any packet leaves."""
    openai.OpenAI(base_url="https://api.openai.com/v1", max_retries=0).models.list()


@pytest.mark.skipif(PHASE != "blocked", reason="only run with the network blocked")
def test_local_server_without_the_marker() -> None:
    """Loopback is blocked too unless listed in --allowed-hosts."""
    host, port = BASE.removeprefix("http://").rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=1).close()
