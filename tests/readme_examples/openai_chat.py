import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.errors import LLMIncompleteStreamError
from streamproof.conformance.protocol import Capabilities, ConformanceCall

STOPS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_calls"}
DONE = b"data: [DONE]"


def watch_for_done(seen: list[bytes]) -> Any:
    """A response hook: the SDK swallows ``[DONE]`` and ends the same way when the body is cut
    without it, so the raw bytes are watched (their last few kept in ``seen``)."""

    async def hook(response: httpx2.Response) -> None:
        stream = response.stream
        assert isinstance(stream, httpx2.AsyncByteStream)
        inner: httpx2.AsyncByteStream = stream

        class Watched(httpx2.AsyncByteStream):
            async def __aiter__(self) -> AsyncGenerator[bytes, None]:
                async for chunk in inner:
                    seen[:] = [(b"".join(seen) + chunk)[-64:]]
                    yield chunk

            async def aclose(self) -> None:
                await inner.aclose()

        response.stream = Watched()

    return hook


class OpenAIChatAdapter:
    name = "openai-sdk-chat"
    capabilities = Capabilities(apis=frozenset({"chat"}))
    known_gaps: dict[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        started, first = time.perf_counter(), None
        text, usage, stop, refused = "", {}, None, False
        tools: dict[int, dict[str, str]] = {}
        tail: list[bytes] = []
        call.http_client.event_hooks["response"].append(watch_for_done(tail))
        status = "cancelled"  # unless the loop below ends or raises: the consumer closed early
        client = openai.AsyncOpenAI(
            api_key=call.api_key, base_url=call.base_url, http_client=call.http_client, max_retries=0
        )
        try:
            chunks = await client.post(
                "/chat/completions",
                body=call.request,
                cast_to=ChatCompletion,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )
            async with chunks:
                async for chunk in chunks:
                    if chunk.usage:
                        cached = chunk.usage.prompt_tokens_details
                        thought = chunk.usage.completion_tokens_details
                        usage = {
                            "prompt_tokens": chunk.usage.prompt_tokens,
                            "completion_tokens": chunk.usage.completion_tokens,
                            "total_tokens": chunk.usage.total_tokens,
                            "cached_input_tokens": cached.cached_tokens if cached else None,
                            "reasoning_tokens": thought.reasoning_tokens if thought else None,
                        }
                    for choice in chunk.choices:
                        first = first or time.perf_counter()
                        if choice.delta.content:
                            text += choice.delta.content
                            yield {"kind": "text", "text": choice.delta.content}
                        if choice.delta.refusal:
                            refused = True
                            yield {"kind": "refusal", "text": choice.delta.refusal}
                        for piece in choice.delta.tool_calls or []:
                            tool = tools.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                            function = piece.function
                            tool["id"] = tool["id"] or piece.id or ""
                            tool["name"] = tool["name"] or (function.name if function else "") or ""
                            tool["arguments"] += (function.arguments if function else "") or ""
                            yield {
                                "kind": "tool_call",
                                "index": piece.index,
                                "id": piece.id,
                                "name": function.name if function else None,
                                "arguments": (function.arguments if function else "") or "",
                            }
                        if choice.finish_reason:
                            stop = choice.finish_reason
                            reason = "refusal" if refused else STOPS.get(stop, "other")
                            yield {"kind": "stop", "reason": reason, "provider_reason": stop}
            if DONE not in b"".join(tail):
                raise LLMIncompleteStreamError("the chat stream ended without data: [DONE]")
            status = "success"
        except Exception as exc:
            status = "error"
            cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) else None
            error = map_sdk_exception(cause or exc, "openai", mid_stream=first is not None) or exc
            raise error from exc
        finally:  # exactly one trace per call: on success, on error and on cancellation
            call.traces.emit(
                {
                    "status": status,
                    "billing": call.billing.model_dump(mode="json"),
                    "usage": usage,
                    "latency_ms": (time.perf_counter() - started) * 1000,
                    "ttft_ms": (first - started) * 1000 if first else None,
                }
            )
        call.set_result(
            {
                "text": text,
                "tool_calls": list(tools.values()),
                "usage": usage,
                "stop_reason": "refusal" if refused else STOPS.get(stop or "", "other"),
                "provider_stop_reason": stop,
            }
        )


def factory() -> OpenAIChatAdapter:
    return OpenAIChatAdapter()
