"""Library behaviours the battery found, each shown on the recorded bytes themselves.

Each test reads the cassette with ``load_cassette``, cuts its SSE body with the standard library
(no streamproof parser) to say what the provider sent, and runs the library, through its shipped
wrapper on that very response, to say what the library reported. A test fails once the library
stops doing it: then the README's list of library behaviours needs the same update.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from streamproof.conformance.battery import Case, Run, run_call
from streamproof.conformance.plugin import bundled_cassettes
from streamproof.conformance.protocol import load_adapter
from streamproof.harness.cassette import load_cassette
from streamproof.harness.faults import faulted_interaction, parse_fault
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


def test_any_llm_folds_an_anthropic_cache_write_into_the_prompt_tokens() -> None:
    installed("any-llm")
    case, events = recorded(bundled_cassettes() / "anthropic" / "messages" / "prompt_caching.yaml")
    sent = next(event for event in events if event["type"] == "message_start")["message"]["usage"]
    assert sent["cache_creation_input_tokens"] == 64 and sent["cache_read_input_tokens"] == 1408
    usage = result(library_run("any-llm", case))["usage"]
    # its Anthropic provider adds the cache write to the prompt tokens and keeps no count of it
    assert usage["cache_write_tokens"] is None
    written = sent["cache_creation_input_tokens"]
    assert usage["prompt_tokens"] == sent["input_tokens"] + sent["cache_read_input_tokens"] + written
    assert usage["cached_input_tokens"] == sent["cache_read_input_tokens"]  # the cache read it keeps


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


def test_pydantic_ai_reports_a_cached_count_groq_never_sent() -> None:
    installed("pydantic-ai")
    case, chunks = recorded(REAL / "test_groq" / "test_tool_use_failed_error_streaming.yaml", 1)
    usage = next(chunk["usage"] for chunk in chunks if chunk.get("usage"))
    assert usage["prompt_tokens"] and "cached" not in json.dumps(usage)  # Groq counts no cached tokens
    assert result(library_run("pydantic-ai", case))["usage"]["cached_input_tokens"] == 0


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


MODULES = {
    "sdk-helpers": "openai",
    "langchain": "langchain_openai",
    "pydantic-ai": "pydantic_ai",
    "litellm": "streamproof.conformance.libraries.litellm",  # it sets up litellm before importing it
    "any-llm": "any_llm",
}


def installed(library: str) -> None:
    pytest.importorskip(MODULES[library], reason=f'{library} is not installed: pip install "streamproof[{library}]"')


def without_terminator(case: Case) -> tuple[Case, bytes]:
    """The recorded stream without its last event (``[DONE]``, ``message_stop``): cut cleanly there."""
    body = case.interaction.response.body
    events = [e for e in body.decode("utf-8").split("\n\n") if e.strip()]
    last = events[-1]
    cut = "\n\n".join(events[:-1]).encode() + b"\n\n"
    response = dataclasses.replace(case.interaction.response, body=cut, chunks=None)
    interaction = dataclasses.replace(case.interaction, response=response)
    return Case(case.cassette, case.root, interaction), last.encode()


@pytest.mark.parametrize(
    ("library", "name"),
    [
        ("sdk-helpers", "anthropic/messages/text"),
        ("pydantic-ai", "openai/chat/text"),
        ("langchain", "openai/chat/prompt_caching"),
        ("litellm", "openai/chat/prompt_caching"),
        ("any-llm", "openai/chat/prompt_caching"),
    ],
)
def test_a_stream_cut_cleanly_before_its_terminator_is_taken_as_complete(library: str, name: str) -> None:
    installed(library)
    whole, _ = recorded(bundled_cassettes() / f"{name}.yaml")
    case, dropped = without_terminator(whole)
    assert dropped.strip() == b"data: [DONE]" or json.loads(dropped.split(b"data:")[1])["type"] == "message_stop"
    assert dropped not in case.interaction.response.body  # what the library gets lacks the terminator
    run = library_run(library, case)
    assert run.error is None and isinstance(run.result, dict)  # a result, not an incomplete stream
    assert type(library_run("reference", case).error).__name__ == "LLMIncompleteStreamError"


ADVISOR = "test_anthropic_advisor_tool_stream"
# LangChain crashes on this one (above); pydantic-ai sums its iterations
COMPACTION = "test_anthropic_compaction_usage_with_cache_streaming"


@pytest.mark.parametrize(
    ("library", "name"),
    # LiteLLM sums the iterations of both
    [(library, ADVISOR) for library in ("sdk-helpers", "pydantic-ai", "langchain", "any-llm")]
    + [("sdk-helpers", COMPACTION), ("any-llm", COMPACTION)],
)
def test_an_advisor_streams_usage_is_taken_from_the_top_level_not_its_iterations(
    library: str, name: str
) -> None:
    installed(library)
    case, events = recorded(REAL / "test_anthropic" / f"{name}.yaml")
    usage = next(event["usage"] for event in events if event["type"] == "message_delta")
    billed_input = sum(i["input_tokens"] + i["cache_read_input_tokens"] + i["cache_creation_input_tokens"] for i in usage["iterations"])
    top_input = usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    # the advisor's (the compaction's) own turn is billed too
    assert len(usage["iterations"]) > 1 and billed_input != top_input
    reported = result(library_run(library, case))["usage"]
    assert reported["prompt_tokens"] == top_input
    # so is the cache read: the compaction turn's is lost (any-llm also drops the top level's 0: None)
    assert (reported["cached_input_tokens"] or 0) == usage["cache_read_input_tokens"]


def test_langchain_chat_openai_reads_no_compatible_reasoning_fields() -> None:
    installed("langchain")
    case, chunks = recorded(REAL / "test_deepseek" / "test_deepseek_model_thinking_stream.yaml")
    reasoning = "".join(ch["delta"].get("reasoning_content") or "" for c in chunks for ch in c.get("choices") or [])
    assert reasoning  # DeepSeek streams its reasoning in delta.reasoning_content
    run = library_run("langchain", case)
    assert result(run)["reasoning"] == "" and not [e for e in run.events if e["kind"] == "reasoning"]


@pytest.mark.parametrize(
    "name",
    [
        "test_deepseek_responses/test_deepseek_responses[function_tool_stream]",
        "test_openai_responses/test_openai_responses_raw_cot_stream_openrouter",
    ],
)
def test_pydantic_ai_loses_the_raw_reasoning_text_of_a_responses_compatible_server(name: str) -> None:
    installed("pydantic-ai")
    case, events = recorded(REAL / f"{name}.yaml")
    raw = "".join(e["delta"] for e in events if e["type"] == "response.reasoning_text.delta")
    assert raw  # DeepSeek's and OpenRouter's Responses endpoints stream raw reasoning text, no summary
    assert not [e for e in events if e["type"].startswith("response.reasoning_summary")]
    assert result(library_run("pydantic-ai", case))["reasoning"] == ""


def test_pydantic_ai_names_a_client_tool_search_after_its_own_tool() -> None:
    installed("pydantic-ai")
    case, events = recorded(REAL / "test_tool_search" / "test_openai_client_tool_search_streaming.yaml")
    items = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert [(i["type"], i["execution"], "name" in i) for i in items] == [("tool_search_call", "client", False)]
    calls = result(library_run("pydantic-ai", case))["tool_calls"]
    assert [(c["id"], c["name"]) for c in calls] == [(items[0]["call_id"], "search_tools")]


def test_pydantic_ai_leaves_groqs_in_stream_tool_use_failed_uncategorised() -> None:
    installed("pydantic-ai")
    case, _ = recorded(REAL / "test_groq" / "test_tool_use_failed_error_streaming.yaml")
    body = case.interaction.response.body.decode()
    error = json.loads(body.split("event: error\ndata:")[1].split("\n")[0])["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "tool_use_failed")  # a bad request
    run = library_run("pydantic-ai", case)
    assert type(run.error).__name__ == "ModelAPIError"  # the base class: no rejected-request category
    from pydantic_ai import exceptions

    assert not isinstance(run.error, exceptions.ModelRequestRejectedError)


@pytest.mark.parametrize("library", ["sdk-helpers", "pydantic-ai", "litellm", "any-llm"])
def test_groqs_usage_in_x_groq_is_not_read(library: str) -> None:
    installed(library)
    case, chunks = recorded(REAL / "test_groq" / "test_groq_model_web_search_tool_stream.yaml")
    assert [c["x_groq"]["usage"]["total_tokens"] for c in chunks if (c.get("x_groq") or {}).get("usage")]
    assert not [c for c in chunks if c.get("usage")]  # no top-level usage anywhere
    assert not result(library_run(library, case))["usage"].get("total_tokens")  # none (pydantic-ai: 0)


def test_pydantic_ai_reads_no_anthropic_thinking_tokens() -> None:
    installed("pydantic-ai")
    case, events = recorded(REAL / "test_anthropic" / "test_pause_turn_web_search_streaming_vcr.yaml")
    usage = next(e["usage"] for e in events if e["type"] == "message_delta")
    assert usage["output_tokens_details"]["thinking_tokens"] > 0
    assert result(library_run("pydantic-ai", case))["usage"]["reasoning_tokens"] is None


@pytest.mark.parametrize("library", ["litellm", "any-llm"])
@pytest.mark.parametrize(("name", "word"), [("text", "end_turn"), ("tool_call", "tool_use"), ("max_tokens", "max_tokens")])
def test_anthropics_stop_reason_is_replaced_with_an_openai_word(library: str, name: str, word: str) -> None:
    installed(library)
    case, events = recorded(bundled_cassettes() / "anthropic" / "messages" / f"{name}.yaml")
    assert [e["delta"]["stop_reason"] for e in events if e["type"] == "message_delta"] == [word]
    reported = result(library_run(library, case))["provider_stop_reason"]
    assert reported == {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}[word]


def sent_tools(library: str, case: Case) -> list[dict[str, Any]]:
    run = library_run(library, case)
    body = run.requests[0].body
    assert isinstance(body, dict)
    return list(body.get("tools") or [])


def test_any_llm_drops_anthropic_server_tools_from_the_request() -> None:
    installed("any-llm")
    case, _ = recorded(REAL / "test_anthropic" / "test_anthropic_web_search_tool_stream.yaml")
    recorded_types = [tool.get("type") for tool in case.interaction.request.json()["tools"]]
    assert any(str(kind).startswith("web_search_") for kind in recorded_types)
    assert not [tool for tool in sent_tools("any-llm", case) if str(tool.get("type")).startswith("web_search_")]


def test_any_llm_drops_additional_properties_and_defer_loading_from_anthropic_tools() -> None:
    installed("any-llm")
    case, _ = recorded(bundled_cassettes() / "anthropic" / "messages" / "tool_call.yaml")
    assert case.interaction.request.json()["tools"][0]["input_schema"]["additionalProperties"] is False
    assert "additionalProperties" not in sent_tools("any-llm", case)[0]["input_schema"]
    case, _ = recorded(REAL / "test_tool_search" / "test_anthropic_native_tool_search_streaming.yaml")
    deferred = [tool["name"] for tool in case.interaction.request.json()["tools"] if tool.get("defer_loading")]
    assert deferred
    assert not [tool for tool in sent_tools("any-llm", case) if tool.get("name") in deferred and tool.get("defer_loading")]


@pytest.mark.parametrize("library", ["litellm", "any-llm"])
def test_openrouters_reasoning_signatures_are_dropped(library: str) -> None:
    installed(library)
    case, chunks = recorded(REAL / "test_openrouter" / "test_openrouter_streaming_reasoning.yaml")
    details = [d for c in chunks for ch in c.get("choices") or [] for d in ch["delta"].get("reasoning_details") or []]
    assert [d for d in details if d.get("signature")]  # OpenRouter passes Anthropic's signature on
    assert result(library_run(library, case))["signatures"] == []


def faulted(case: Case, spec: str) -> tuple[Case, int, dict[str, Any]]:
    """The case with the battery's fault applied to its recorded response: status and error body."""
    interaction = faulted_interaction(case.interaction, parse_fault(spec))
    response = interaction.response
    body = json.loads(response.body) if response.status >= 400 else {}
    return Case(case.cassette, case.root, interaction), response.status, body


def library_exception(run: Run) -> BaseException:
    """What the library itself raised (the wrapper's mapped error carries it as its cause)."""
    assert run.error is not None and run.result is None
    return run.error.__cause__ or run.error


def test_litellm_calls_an_insufficient_quota_429_a_rate_limit() -> None:
    installed("litellm")
    case, status, body = faulted(recorded(bundled_cassettes() / "openai" / "chat" / "text.yaml")[0], "quota")
    assert (status, body["error"]["code"]) == (429, "insufficient_quota")  # out of credits, not a rate limit
    assert type(library_exception(library_run("litellm", case))).__name__ == "RateLimitError"


def test_litellm_raises_anthropics_529_overloaded_as_an_internal_server_error() -> None:
    installed("litellm")
    case, status, body = faulted(recorded(bundled_cassettes() / "anthropic" / "messages" / "text.yaml")[0], "overloaded")
    assert (status, body["error"]["type"]) == (529, "overloaded_error")
    assert type(library_exception(library_run("litellm", case))).__name__ == "InternalServerError"


def test_litellms_rate_limit_error_carries_no_retry_after() -> None:
    installed("litellm")
    case, status, _ = faulted(recorded(bundled_cassettes() / "anthropic" / "messages" / "text.yaml")[0], "rate_limit:retry_after=1")
    assert status == 429 and case.interaction.response.headers.get("retry-after") == "1"
    run = library_run("litellm", case)
    assert type(library_exception(run)).__name__ == "RateLimitError"
    assert getattr(run.error, "retry_after", None) is None  # nothing on the exception says when to retry


def test_litellm_raises_an_in_stream_bad_request_as_a_connection_error() -> None:
    installed("litellm")
    case, _ = recorded(REAL / "test_groq" / "test_tool_use_failed_error_streaming.yaml")
    body = case.interaction.response.body.decode()
    error = json.loads(body.split("event: error\ndata:")[1].split("\n")[0])["error"]
    assert error["type"] == "invalid_request_error"  # Groq's own error event: a bad request
    fallback = library_exception(library_run("litellm", case))  # its wrapper for a failure after the start
    names = [kind.__name__ for kind in type(getattr(fallback, "original_exception", fallback)).__mro__]
    assert "BadRequestError" not in names and "APIConnectionError" in names


@pytest.mark.parametrize(
    ("path", "host"),
    [
        (REAL / "test_anthropic" / "test_anthropic_advisor_tool_stream.yaml", "raw.githubusercontent.com"),
        (REAL / "test_crusoe" / "test_crusoe_model_streaming.yaml", "huggingface.co"),
    ],
)
def test_litellm_reaches_out_of_the_cassette_during_a_call(path: Path, host: str) -> None:
    installed("litellm")
    case, _ = recorded(path)
    assert host not in case.interaction.request.host
    assert any(host in attempt for attempt in library_run("litellm", case).network)


@pytest.mark.parametrize(
    ("name", "spec", "raised"),
    [
        ("openai/chat/text", "malformed_chunk:after=3", "APIConnectionError"),  # bad JSON: not a connection
        ("openai/chat/text", "mid_stream_error:after=3", "APIConnectionError"),  # a server error in the stream
        ("anthropic/messages/text", "mid_stream_error:after=3", "InternalServerError"),  # overloaded_error
    ],
)
def test_litellm_classes_for_a_broken_stream(name: str, spec: str, raised: str) -> None:
    installed("litellm")
    whole, _ = recorded(bundled_cassettes() / f"{name}.yaml")
    case, _, _ = faulted(whole, spec)
    body = case.interaction.response.body
    assert body != whole.interaction.response.body and body.startswith(whole.interaction.response.body[:20])
    fallback = library_exception(library_run("litellm", case))  # its wrapper for a failure after the start
    inside = getattr(fallback, "original_exception", fallback)
    names = [kind.__name__ for kind in type(inside).__mro__]
    assert raised in names and not {"JSONDecodeError", "APIResponseValidationError"} & set(names)


def _finish_chunks(case: Case) -> tuple[list[dict[str, Any]], list[int]]:
    """The body's chunks, and the numbers of those that carry a finish reason."""
    chunks = sse_data(case.interaction.response.body)
    return chunks, [n for n, c in enumerate(chunks) for ch in c.get("choices") or [] if ch.get("finish_reason")]


@pytest.mark.parametrize(
    ("name", "fault"),
    [
        # OpenRouter's own: finish_reason "length", then a chunk with a top-level error ("Token limit reached")
        ("test_openrouter/test_openrouter_stream_error", False),
        # the battery's mid_stream_error fault, inserted right after the finish chunk of a plain stream
        ("openai/chat/text", True),
    ],
)
def test_pydantic_ai_loses_the_finish_reason_of_a_stream_that_errs_after_it(name: str, fault: bool) -> None:
    installed("pydantic-ai")
    case, _ = recorded(bundled_cassettes() / f"{name}.yaml" if fault else REAL / f"{name}.yaml")
    if fault:
        case, _, _ = faulted(case, f"mid_stream_error:after={_finish_chunks(case)[1][-1] + 1}")
    chunks, finishes = _finish_chunks(case)
    assert finishes and any("error" in chunk for chunk in chunks[finishes[-1] + 1 :])  # said why, then failed
    reason = [ch["finish_reason"] for ch in chunks[finishes[-1]]["choices"] if ch.get("finish_reason")]
    run = library_run("pydantic-ai", case)
    library_exception(run)  # it raised
    # the finish reason lives only on its final ModelResponse, which an error never hands over
    assert not [event for event in run.events if event["kind"] == "stop"]
    stops = [event for event in library_run("reference", case).events if event["kind"] == "stop"]
    assert [stop["provider_reason"] for stop in stops] == reason


def test_pydantic_ai_drops_the_history_before_a_compaction_item_it_sends_back() -> None:
    installed("pydantic-ai")
    path = REAL / "test_openai_responses" / "test_openai_responses_compact_stateful_mode_stream.yaml"
    case, _ = recorded(path, 3)
    items = json.loads(case.interaction.request.body)["input"]
    kinds = [item.get("type", "message") for item in items]
    assert kinds.index("compaction") == 6 and kinds[:6] == ["message"] * 6  # the turns before it, as sent
    run = library_run("pydantic-ai", case)
    result(run)
    body = run.requests[0].body
    assert isinstance(body, dict)
    sent = body["input"]
    # OpenAIResponsesModel trims every item before the compaction item it sends back
    assert [item.get("type", "message") for item in sent] == ["compaction", "message"]
    assert sent[0]["encrypted_content"] == items[6]["encrypted_content"] and sent[1] == items[7]


def test_any_llm_drops_the_list_content_of_a_tool_calling_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    installed("any-llm")
    from streamproof.conformance.libraries import any_llm as wrapper
    from streamproof.conformance.libraries.openai_format import chat_messages

    case, _ = recorded(REAL / "test_tool_search" / "test_anthropic_native_tool_search_streaming.yaml", index=1)
    turn = case.interaction.request.json()["messages"][1]  # the earlier assistant turn, as recorded
    assert [block["type"] for block in turn["content"]] == ["text", "server_tool_use", "tool_search_tool_result", "text", "tool_use"]
    # any-llm handed the turn's own blocks as list content beside its tool_calls (the wrapper sends
    # such a turn's text instead, which any-llm keeps)
    monkeypatch.setattr(wrapper, "any_llm_messages", lambda api, request: chat_messages(api, request, anthropic_blocks=True))
    body = library_run("any-llm", case).requests[0].body
    assert isinstance(body, dict)
    # its Anthropic provider keeps a tool-calling turn's content only when it is a string: the server
    # blocks (and the text) are gone, only the tool call is left
    assert [block["type"] for block in body["messages"][1]["content"]] == ["tool_use"]
