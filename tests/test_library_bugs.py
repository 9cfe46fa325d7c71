"""Library behaviours the battery found, each shown on the recorded bytes themselves.

Each test reads the cassette with ``load_cassette``, cuts its SSE body with the standard library
(no streamproof parser) to say what the provider sent, and runs the library, through its shipped
wrapper on that very response, to say what the library reported. A test fails once the library
stops doing it: then the README's list of library behaviours needs the same update.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from streamproof.conformance.battery import Case, Run, run_call
from streamproof.conformance.plugin import bundled_cassettes
from streamproof.conformance.protocol import load_adapter
from streamproof.harness.cassette import load_cassette
from streamproof.harness.served import served_from_interaction

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes" / "pydantic-ai"


def sse_data(body: bytes) -> list[dict[str, Any]]:
    """The JSON of every ``data:`` line of an SSE body, by the standard library alone."""
    found = []
    for event in body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            found.append(json.loads(data))
    return found


def recorded(path: Path, index: int = 0) -> tuple[Case, list[dict[str, Any]]]:
    if not path.exists():
        pytest.skip(f"{path} is not present")
    interaction = load_cassette(path).interactions[index]
    return Case(path, path.parent, interaction), sse_data(interaction.response.body)


def library_run(library: str, case: Case) -> Run:
    adapter = load_adapter(library)
    return asyncio.run(
        run_call(adapter, case, served_from_interaction(case.interaction, recorded_timing=False))
    )


def result(run: Run) -> dict[str, Any]:
    assert run.error is None, f"{type(run.error).__name__}: {run.error}"
    assert isinstance(run.result, dict)
    return run.result


def test_openai_chat_stream_helper_loses_usage_sent_before_a_trailing_chunk() -> None:
    # OpenAI's moderation stream: the usage chunk, then one more chunk (the moderation result) with usage null
    case, chunks = recorded(REAL / "test_openai" / "test_openai_moderation_stream.yaml")
    with_usage = [n for n, chunk in enumerate(chunks) if chunk.get("usage")]
    assert len(with_usage) == 1 and chunks[with_usage[0]]["usage"]["prompt_tokens"] == 13
    assert "usage" in chunks[-1] and chunks[-1]["usage"] is None and with_usage[0] < len(chunks) - 1
    # chat.completions.stream()'s final completion keeps the LAST chunk's usage: none
    assert result(library_run("sdk-helpers", case))["usage"] == {}


def test_openai_chat_stream_helper_fails_on_index_less_annotation_deltas() -> None:
    # OpenRouter streams url_citation annotations in delta.annotations, a list whose entries have no index
    case, chunks = recorded(REAL / "test_openrouter" / "test_openrouter_web_search_annotations_stream.yaml")
    annotations = [
        a for c in chunks for ch in c.get("choices") or [] for a in ch["delta"].get("annotations") or []
    ]
    assert annotations and all("index" not in annotation for annotation in annotations)
    run = library_run("sdk-helpers", case)
    if not run.requests:  # older openai releases (3.15) refuse the server tool in stream() before sending
        assert isinstance(run.error, ValueError) and "only `function` tool types" in str(run.error)
        return
    assert isinstance(run.error, RuntimeError)
    assert "Expected list delta entry to have an `index` key" in str(run.error)


def test_litellm_reports_reasoning_tokens_anthropic_never_sent() -> None:
    pytest.importorskip(
        "streamproof.conformance.libraries.litellm",
        reason='litellm is not installed: pip install "streamproof[litellm]"',
    )
    case, events = recorded(bundled_cassettes() / "anthropic" / "messages" / "reasoning.yaml")
    usages = [event.get("usage") or (event.get("message") or {}).get("usage") or {} for event in events]
    assert not any("reasoning" in key or "thinking" in key for usage in usages for key in usage)
    thinking = "".join((e.get("delta") or {}).get("thinking", "") for e in events)
    assert thinking  # the stream carries thinking text, but no count of its tokens
    assert result(library_run("litellm", case))["usage"]["reasoning_tokens"] == 32


def test_any_llm_drops_anthropic_cache_counters_of_zero() -> None:
    pytest.importorskip("any_llm", reason='any-llm is not installed: pip install "streamproof[any-llm]"')
    case, events = recorded(bundled_cassettes() / "anthropic" / "messages" / "text.yaml")
    start = next(event for event in events if event["type"] == "message_start")
    assert start["message"]["usage"]["cache_read_input_tokens"] == 0
    usage = result(library_run("any-llm", case))["usage"]
    assert usage["cached_input_tokens"] is None and usage["prompt_tokens"] is not None


def test_any_llm_drops_redacted_thinking() -> None:
    pytest.importorskip("any_llm", reason='any-llm is not installed: pip install "streamproof[any-llm]"')
    case, events = recorded(bundled_cassettes() / "anthropic" / "messages" / "redacted_thinking.yaml")
    redacted = [e for e in events if (e.get("content_block") or {}).get("type") == "redacted_thinking"]
    assert redacted and redacted[0]["content_block"]["data"]
    run = library_run("any-llm", case)
    result(run)
    assert not [event for event in run.events if event["kind"] == "hidden_reasoning"]


@pytest.mark.parametrize("library", ["langchain", "pydantic-ai", "litellm", "any-llm"])
def test_streamed_chat_refusals_are_dropped(library: str) -> None:
    module = {
        "langchain": "langchain_openai",
        "pydantic-ai": "pydantic_ai",
        "litellm": "streamproof.conformance.libraries.litellm",  # it sets up litellm before importing it
        "any-llm": "any_llm",
    }
    pytest.importorskip(
        module[library], reason=f'{library} is not installed: pip install "streamproof[{library}]"'
    )
    case, chunks = recorded(bundled_cassettes() / "openai" / "chat" / "refusal.yaml")
    refusal = "".join(ch["delta"].get("refusal") or "" for c in chunks for ch in c.get("choices") or [])
    assert refusal.startswith("I'm")
    run = library_run(library, case)
    outcome = result(run)
    assert not [event for event in run.events if event["kind"] == "refusal"]
    assert refusal not in outcome["text"]


def test_pydantic_ai_reports_a_cache_write_count_openai_never_sent() -> None:
    pytest.importorskip(
        "pydantic_ai", reason='pydantic-ai is not installed: pip install "streamproof[pydantic-ai]"'
    )
    case, chunks = recorded(bundled_cassettes() / "openai" / "chat" / "text.yaml")
    usage = next(chunk["usage"] for chunk in chunks if chunk.get("usage"))
    assert "cache_write_tokens" not in json.dumps(usage) and "cache_creation" not in json.dumps(usage)
    assert result(library_run("pydantic-ai", case))["usage"]["cache_write_tokens"] == 0


def test_langchain_joins_openrouters_repeated_finish_reason() -> None:
    pytest.importorskip(
        "langchain_openai", reason='langchain is not installed: pip install "streamproof[langchain]"'
    )
    case, chunks = recorded(REAL / "test_openrouter" / "test_openrouter_web_search_annotations_stream.yaml")
    finishes = [
        ch["finish_reason"] for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")
    ]
    assert finishes == ["stop", "stop"]  # OpenRouter repeats it on the usage chunk
    outcome = result(library_run("langchain", case))
    # AIMessageChunk addition concatenates response_metadata strings
    assert outcome["provider_stop_reason"] == "stopstop" and outcome["stop_reason"] == "other"


def test_any_llm_turns_anthropic_server_tool_calls_into_client_tool_calls_without_ids() -> None:
    pytest.importorskip("any_llm", reason='any-llm is not installed: pip install "streamproof[any-llm]"')
    case, events = recorded(REAL / "test_anthropic" / "test_anthropic_web_search_tool_stream.yaml")
    blocks = [e["content_block"] for e in events if e["type"] == "content_block_start"]
    server = [block for block in blocks if block["type"] == "server_tool_use"]
    assert server and all(block["id"].startswith("srvtoolu_") for block in server)
    assert not [block for block in blocks if block["type"] == "tool_use"]  # no client tool was called
    calls = result(library_run("any-llm", case))["tool_calls"]
    assert calls and all(call["id"] == "" and call["name"] == "" for call in calls)


def test_langchain_anthropic_fails_on_a_compaction_streams_context_management() -> None:
    pytest.importorskip(
        "langchain_anthropic", reason='langchain is not installed: pip install "streamproof[langchain]"'
    )
    case, events = recorded(
        REAL / "test_anthropic" / "test_anthropic_compaction_usage_with_cache_streaming.yaml"
    )
    delta = next(event for event in events if event["type"] == "message_delta")
    assert isinstance(delta.get("context_management"), dict)  # a plain JSON object the SDK has no model for
    run = library_run("langchain", case)
    assert isinstance(run.error, AttributeError) and "model_dump" in str(run.error)


def test_openai_chat_stream_helper_raises_on_a_length_stop() -> None:
    case, chunks = recorded(bundled_cassettes() / "openai" / "chat" / "max_tokens.yaml")
    finishes = [
        ch["finish_reason"] for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")
    ]
    assert finishes == ["length"]  # a complete stream that stopped at max_tokens, [DONE] included
    run = library_run("sdk-helpers", case)
    # the error the helper raised, as the SDK exception mapping passes it on
    assert type(run.error.__cause__).__name__ == "LengthFinishReasonError" and run.result is None
    assert "".join(event["text"] for event in run.events if event["kind"] == "text")  # the text came first


def test_pydantic_ai_openrouter_model_reports_the_upstream_finish_reason() -> None:
    pytest.importorskip(
        "pydantic_ai", reason='pydantic-ai is not installed: pip install "streamproof[pydantic-ai]"'
    )
    case, chunks = recorded(REAL / "test_openrouter" / "test_openrouter_stream_with_reasoning.yaml")
    last = [ch for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")][-1]
    assert (last["finish_reason"], last["native_finish_reason"]) == ("stop", "completed")
    assert result(library_run("pydantic-ai", case))["provider_stop_reason"] == "completed"
