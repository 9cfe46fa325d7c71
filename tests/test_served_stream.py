"""The suite's transport gives a body the way a socket does: each byte once.

The openai SDK reads ``response.stream`` a second time after ``[DONE]`` to drain it. A body that
started over from its first byte on that second read made an adapter watching the raw bytes for
``[DONE]`` see the wrong tail (a false failure of the README's own example under load)."""

from __future__ import annotations

import httpx2
import openai

from streamproof.conformance.transport import CaseTransport
from streamproof.harness.served import ServedChunk, ServedResponse

CHAT_BODY = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


def _served(body: bytes) -> ServedResponse:
    return ServedResponse(
        status=200, headers=(("content-type", "text/event-stream"),), chunks=(ServedChunk(body, 0.0),)
    )


async def test_a_second_read_goes_on_where_the_first_stopped() -> None:
    transport = CaseTransport(_served(b"abc"), chunks=[b"a", b"b", b"c"])
    async with httpx2.AsyncClient(transport=transport) as client:
        async with client.stream("POST", "https://o.test/v1/chat/completions") as response:
            first = []
            async for chunk in response.stream:
                first.append(chunk)
                break
            second = [chunk async for chunk in response.stream]
            third = [chunk async for chunk in response.stream]
    assert (first, second, third) == ([b"a"], [b"b", b"c"], [])


async def test_after_the_sdk_drained_the_stream_no_byte_is_served_again() -> None:
    chunks = [CHAT_BODY[i : i + 1] for i in range(len(CHAT_BODY))]
    async with httpx2.AsyncClient(transport=CaseTransport(_served(CHAT_BODY), chunks=chunks)) as http:
        client = openai.AsyncOpenAI(api_key="sk-test-x", base_url="https://o.test/v1", http_client=http, max_retries=0)
        stream = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        texts = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
        again = b"".join([chunk async for chunk in stream.response.stream])  # type: ignore[union-attr]
    assert texts == ["Hi", None]
    assert again == b""
