"""The adapters layer's registries: one module per wire format (``formats.FORMATS``) and one per
framing (``framing.FRAMINGS``), found by name; the interface's framing seam; routing and URL rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamproof.adapters.error_mapping import map_sdk_exception
from streamproof.adapters.errors import AdapterConfigError, LLMRateLimitError
from streamproof.adapters.events import StreamEvent
from streamproof.adapters.formats import (
    FORMATS,
    error_table_for,
    format_for,
    format_for_request,
    format_for_url,
    format_named,
    formats_serving,
    interface_for_api,
    provider_for_url,
)
from streamproof.adapters.formats.anthropic_messages import AnthropicMessagesInterface, map_anthropic_error
from streamproof.adapters.formats.openai_chat import OpenAIChatInterface, map_openai_error
from streamproof.adapters.formats.openai_responses import OpenAIResponsesInterface
from streamproof.adapters.framing import FRAMINGS, framing_for_content_type, framing_named
from streamproof.adapters.framing.sse import SSEEvent
from streamproof.harness.cassette import load_cassette
from streamproof.harness.rechunk import at_events

BUNDLED = Path(__file__).parents[1] / "cassettes"


def test_every_format_is_found_by_name_and_names_its_parts() -> None:
    assert list(FORMATS)[:3] == ["openai_chat", "openai_responses", "anthropic_messages"]
    assert format_named("openai_chat").interface() is OpenAIChatInterface
    assert format_named("openai_responses").interface() is OpenAIResponsesInterface
    assert format_named("anthropic_messages").interface() is AnthropicMessagesInterface
    assert format_named("anthropic_messages").map_error() is map_anthropic_error
    assert format_named("openai_responses").map_error() is map_openai_error  # one server, one table
    for fmt in FORMATS.values():
        assert fmt.interface().api == fmt.api
        assert fmt.framing in FRAMINGS
        assert fmt.client().__name__ == fmt.client_class  # type: ignore[attr-defined]


def test_an_unknown_name_is_a_value_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"no wire format 'gemini'.*openai_chat.*anthropic_messages"):
        format_named("gemini")
    with pytest.raises(ValueError, match=r"no wire format for api 'embeddings'.*chat, responses, messages"):
        format_for("embeddings")
    with pytest.raises(ValueError, match=r"no framing 'jsonl' \(known: .*sse"):
        framing_named("jsonl")


def test_format_for_an_api_and_provider() -> None:
    assert format_for("chat").name == "openai_chat"
    assert format_for("chat", "groq").name == "openai_chat"
    assert format_for("messages").name == "anthropic_messages"
    assert format_for("messages", "minimax").name == "anthropic_messages"
    assert format_for("messages", "somewhere-else").name == "anthropic_messages"
    assert interface_for_api("responses") is OpenAIResponsesInterface


@pytest.mark.parametrize(
    ("host", "path", "name", "provider"),
    [
        ("api.openai.com", "/v1/chat/completions", "openai_chat", "openai"),
        ("api.groq.com", "/openai/v1/chat/completions/", "openai_chat", "api.groq.com"),
        ("api.openai.com", "/v1/responses", "openai_responses", "openai"),
        ("api.openai.com", "/v1/responses/resp_123", "openai_responses", "openai"),
        ("api.anthropic.com", "/v1/messages", "anthropic_messages", "anthropic"),
        ("127.0.0.1", "/v1/messages", "anthropic_messages", "anthropic"),
        ("localhost", "/v1/chat/completions", "openai_chat", "openai"),
        ("127.0.0.1", "/v1/models", None, "127.0.0.1"),
        ("", "/v1/models", None, "unknown"),
        ("api.openai.com", "/v1/embeddings", None, "openai"),
    ],
)
def test_urls_are_classified_by_the_formats_rules(host: str, path: str, name: str | None, provider: str) -> None:
    fmt = format_for_url(host, path)
    assert (fmt.name if fmt is not None else None) == name
    assert provider_for_url(host, path) == provider


def test_the_url_rules_agree_with_every_bundled_cassette_s_recorded_api() -> None:
    seen = 0
    for path in sorted(BUNDLED.rglob("*.yaml")):
        for interaction in load_cassette(path).interactions:
            fmt = format_for_url(interaction.request.host, interaction.request.path)
            assert (fmt.api if fmt is not None else "other") == interaction.api, path
            assert provider_for_url(interaction.request.host, interaction.request.path) == interaction.provider
            seen += 1
    assert seen > 30


def test_routing_a_provider_to_its_format_and_client() -> None:
    chat = {"model": "m", "messages": []}
    responses = {"model": "m", "input": "hi"}
    assert format_for_request("openai", chat).name == "openai_chat"
    assert format_for_request("openai", responses).name == "openai_responses"
    assert format_for_request("groq", {**responses, "messages": []}).name == "openai_chat"
    assert format_for_request("anthropic", responses).name == "anthropic_messages"
    assert {f.client_class for f in formats_serving("openai")} == {"OpenAIClient"}
    with pytest.raises(AdapterConfigError, match=r"unknown provider 'gemini'.*vllm"):
        formats_serving("gemini")


def test_a_streamed_request_gets_what_its_format_needs() -> None:
    chat = format_named("openai_chat")
    assert chat.streamed_request({"model": "m"}, "openai") == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert chat.streamed_request({"model": "m"}, "groq") == {"model": "m", "stream": True}
    assert format_named("anthropic_messages").streamed_request({"model": "m"}, "anthropic") == {
        "model": "m",
        "stream": True,
    }


def test_the_sdk_exception_table_is_the_providers_format_s() -> None:
    assert error_table_for("anthropic", "minimax") is map_anthropic_error
    assert error_table_for("openai", "deepseek") is map_openai_error
    assert error_table_for("openai", "anthropic") is map_openai_error  # by the SDK that raised it
    with pytest.raises(ValueError, match="no wire format is served by the 'google' SDK"):
        error_table_for("google", "gemini")


def test_an_sdk_status_error_maps_through_its_format_s_table() -> None:
    import anthropic
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    response = httpx2.Response(429, headers={"retry-after": "3"}, request=request)
    exc = anthropic.RateLimitError(
        "slow down", response=response, body={"type": "error", "error": {"type": "rate_limit_error"}}
    )
    error = map_sdk_exception(exc, "minimax")
    assert isinstance(error, LLMRateLimitError)
    assert error.retry_after == 3.0 and error.provider == "minimax" and error.code == "rate_limit_error"


def test_framings_by_content_type() -> None:
    assert framing_for_content_type("text/event-stream; charset=utf-8") is FRAMINGS["sse"]
    assert framing_for_content_type("Text/Event-Stream") is FRAMINGS["sse"]
    assert framing_for_content_type("application/json") is None
    assert format_named("openai_chat").content_type == "text/event-stream"


@pytest.mark.parametrize(
    "body",
    [b"data: a\n\ndata: b\r\n\r\nevent: x\rdata: c\r\r", b"data: a\n\ndata: unterminated", b"", b"\n\n\n\n"],
)
def test_sse_frame_ends_are_where_re_chunking_at_events_cuts(body: bytes) -> None:
    ends = FRAMINGS["sse"].frame_ends(body)
    chunks = at_events(body)
    cut, offsets = 0, []
    for chunk in chunks:
        cut += len(chunk)
        offsets.append(cut)
    whole = offsets if not body or body.endswith((b"\n\n", b"\r\r")) else offsets[:-1]
    assert ends == whole


class _LengthPrefixed:
    """A framing of the test's own: each event is 4 bytes of length, then its JSON."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        self._held += chunk
        events: list[SSEEvent] = []
        while len(self._held) >= 4 and len(self._held) >= 4 + (size := int.from_bytes(self._held[:4], "big")):
            events.append((None, self._held[4 : 4 + size].decode(), None))
            self._held = self._held[4 + size :]
        return events

    def close(self) -> list[SSEEvent]:
        return []


class _LengthPrefixedMessages(AnthropicMessagesInterface):
    """Anthropic's event logic, as it is, over another framing: the seam a format like Bedrock uses."""

    def _frame_decoder(self) -> _LengthPrefixed:
        return _LengthPrefixed()


ANTHROPIC_EVENTS: list[dict[str, Any]] = [
    {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 5}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
    {"type": "message_stop"},
]


def _canonical(events: list[StreamEvent]) -> list[dict[str, Any]]:
    return [event.model_dump(exclude={"message_id", "event_id"}) for event in events]


def test_an_interface_reads_the_same_events_through_another_framing() -> None:
    sse = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in ANTHROPIC_EVENTS).encode()
    framed = b"".join(len(raw := json.dumps(e).encode()).to_bytes(4, "big") + raw for e in ANTHROPIC_EVENTS)
    by_sse = AnthropicMessagesInterface(message_id="m")
    expected = [*by_sse.feed(sse), *by_sse.finish()]
    other = _LengthPrefixedMessages(message_id="m")
    got = [event for i in range(len(framed)) for event in other.feed(framed[i : i + 1])]
    got += other.finish()
    assert _canonical(got) == _canonical(expected) and len(got) == 3
    assert other.result().model_dump(exclude={"ttft_ms", "latency_ms"}) == by_sse.result().model_dump(
        exclude={"ttft_ms", "latency_ms"}
    )


def test_the_registry_and_every_format_module_import_no_sdk_and_no_http_stack() -> None:
    # replaying cassettes reads interfaces and error tables only: the SDKs load when a client is built
    code = (
        "import sys; import streamproof.adapters.formats as f\n"
        "[fmt.module() for fmt in f.FORMATS.values()]\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2', 'httpx', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
