"""The library wrappers' translation, both ways: the request each library sends for a recorded one
passes the request check (what the library can express is passed on, through its own options), and
the library's parts come out as the reference's reasoning blocks.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from streamproof.conformance.battery import Battery, Case, Verdict, run_call, snapshot_data
from streamproof.conformance.plugin import bundled_cassettes
from streamproof.conformance.protocol import load_adapter
from streamproof.harness.cassette import load_cassette
from streamproof.harness.served import served_from_interaction

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes" / "pydantic-ai"
EXTRA = {"pydantic-ai": "pydantic_ai", "langchain": "langchain_openai", "litellm": "litellm", "any-llm": "any_llm"}


def request_verdict(library: str, path: Path, index: int = 0) -> tuple[str, str, list[str]]:
    pytest.importorskip(EXTRA[library], reason=f'{library} is not installed: pip install "streamproof[{library}]"')
    if not path.exists():
        pytest.skip(f"{path} is not present")
    root = bundled_cassettes() if path.is_relative_to(bundled_cassettes()) else REAL.parent  # ids as check names them
    case = Case(path, root, load_cassette(path).interactions[index])
    verdict = asyncio.run(Battery(load_adapter(library), case).run("request"))
    return verdict.status, verdict.message, verdict.warnings


@pytest.mark.parametrize("library", ["pydantic-ai", "langchain", "litellm", "any-llm"])
def test_anthropic_system_cache_control_is_passed_on(library: str) -> None:
    status, message, _ = request_verdict(library, bundled_cassettes() / "anthropic/messages/prompt_caching.yaml")
    assert status == "pass", message


@pytest.mark.parametrize("library", ["pydantic-ai", "langchain", "litellm", "any-llm"])
def test_openrouters_reasoning_parameter_is_passed_on(library: str) -> None:
    path = REAL / "test_openrouter" / "test_openrouter_streaming_reasoning.yaml"
    status, message, _ = request_verdict(library, path)
    assert status == "pass", message


def test_pydantic_ai_sends_responses_instructions_as_instructions() -> None:
    status, message, _ = request_verdict("pydantic-ai", bundled_cassettes() / "openai/responses/prompt_caching.yaml")
    assert status == "pass", message


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("test_openai_responses", "test_openai_include_raw_annotations_streaming.yaml"),  # web search only
        ("test_anthropic", "test_anthropic_code_execution_tool_stream.yaml"),  # code execution only
        ("test_openai_responses", "test_openai_responses_code_execution_return_image_stream.yaml"),  # "required"
    ],
)
def test_pydantic_ai_keeps_an_explicit_tool_choice_beside_server_tools_alone(folder: str, name: str) -> None:
    status, message, _ = request_verdict("pydantic-ai", REAL / folder / name)
    assert status == "pass", message


@pytest.mark.parametrize(
    "name",
    [
        "test_openai_responses_model_web_search_tool_stream.yaml",  # a web search before the reasoning
        "test_openai_responses_thinking_part_iter.yaml",  # one reasoning item, two summary parts
    ],
)
def test_pydantic_ai_reasoning_blocks_group_as_the_references(name: str) -> None:
    pytest.importorskip("pydantic_ai", reason='pydantic-ai is not installed: pip install "streamproof[pydantic-ai]"')
    path = REAL / "test_openai_responses" / name
    if not path.exists():
        pytest.skip(f"{path} is not present")
    case = Case(path, path.parent, load_cassette(path).interactions[0])

    def blocks(library: str) -> list[tuple[str, int]]:
        run = asyncio.run(run_call(load_adapter(library), case, served_from_interaction(case.interaction, recorded_timing=False)))
        events = snapshot_data(case, Verdict("snapshot", "pass", events=run.events))["events"]
        return [(e["kind"], e["block"]) for e in events if e["kind"] == "reasoning"]

    assert blocks("pydantic-ai") == blocks("reference")


@pytest.mark.parametrize(
    ("folder", "name", "index"),
    [
        # an assistant message's id, phase and (empty) annotations; a function call's item id
        ("test_openai_responses", "test_openai_responses_phase_streamed_on_part_start.yaml", 1),
        # DeepSeek's reasoning item: raw reasoning_text content, no summary, no encrypted content
        ("test_deepseek_responses", "test_deepseek_responses[function_tool_stream].yaml", 1),
        # a client-executed tool search's tool_search_call and tool_search_output (its found tools)
        ("test_tool_search", "test_openai_client_tool_search_streaming.yaml", 1),
        ("test_tool_search", "test_openai_client_tool_search_streaming.yaml", 2),  # and a namespaced call after
        # a server-executed tool search's tool_search_call
        ("test_tool_search", "test_openai_native_tool_search_streaming.yaml", 1),
    ],
)
def test_pydantic_ai_sends_responses_history_items_back_as_recorded(folder: str, name: str, index: int) -> None:
    status, message, _ = request_verdict("pydantic-ai", REAL / folder / name, index)
    assert status == "pass", message


def test_pydantic_ai_sends_a_messages_url_citations_back() -> None:
    # no recording has an earlier answer with citations: the bundled text case, its request given one
    pytest.importorskip("pydantic_ai", reason='pydantic-ai is not installed: pip install "streamproof[pydantic-ai]"')
    path = bundled_cassettes() / "openai/responses/text.yaml"
    interaction = load_cassette(path).interactions[0]
    text = "See https://example.org/streams for the spec."
    citation = {
        "type": "url_citation",
        "url": "https://example.org/streams",
        "title": "Streams",
        "start_index": 4,
        "end_index": 31,
    }
    answer = {
        "type": "message",
        "role": "assistant",
        "id": "msg_0123456789abcdef",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": [citation]}],
    }
    request = {**interaction.request.json(), "input": [{"role": "user", "content": "Where?"}, answer]}
    body = json.dumps(request).encode()
    case = Case(path, bundled_cassettes(), replace(interaction, request=replace(interaction.request, body=body)))
    verdict = asyncio.run(Battery(load_adapter("pydantic-ai"), case).run("request"))
    assert verdict.status == "pass", verdict.message


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        # a resumed pause_turn: thinking, then web search server_tool_use / web_search_tool_result pairs
        ("test_anthropic", "test_pause_turn_web_search_streaming_vcr.yaml"),
        # a bm25 tool search's server_tool_use and tool_search_tool_result, then a client tool call
        ("test_tool_search", "test_anthropic_native_tool_search_streaming.yaml"),
    ],
)
def test_pydantic_ai_sends_anthropic_server_tool_blocks_back_as_recorded(folder: str, name: str) -> None:
    status, message, _ = request_verdict("pydantic-ai", REAL / folder / name, 1)
    assert status == "pass", message


def test_sdk_helpers_report_a_client_executed_tool_search_as_a_tool_call() -> None:
    path = REAL / "test_tool_search" / "test_openai_client_tool_search_streaming.yaml"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    case = Case(path, path.parent, load_cassette(path).interactions[0])
    run = asyncio.run(run_call(load_adapter("sdk-helpers"), case, served_from_interaction(case.interaction, recorded_timing=False)))
    assert isinstance(run.result, dict), run.error
    calls = [(c["id"], c["name"], json.loads(c["arguments"])) for c in run.result["tool_calls"]]
    # what the recorded bytes say, read with the standard library: the done item of the client search
    events = [json.loads(line[5:]) for line in case.interaction.response.body.decode().splitlines() if line.startswith("data:")]
    done = [e["item"] for e in events if e.get("type") == "response.output_item.done" and e["item"]["type"] == "tool_search_call"]
    assert [item["execution"] for item in done] == ["client"]
    assert calls == [(done[0]["call_id"], "tool_search", done[0]["arguments"])]


def test_any_llms_missing_thinking_budget_is_a_declared_gap_of_the_request_field() -> None:
    status, message, _ = request_verdict("any-llm", bundled_cassettes() / "anthropic/messages/reasoning.yaml")
    assert status == "xfail", message
    assert message.startswith("known gap: any-llm takes no thinking budget") and "request.thinking" in message


def litellm_local_beta_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool search makes LiteLLM fetch its beta headers config from GitHub, once per process
    (test_litellm_reaches_out_of_the_cassette_during_a_call shows it): its own switch keeps it
    local here, and its cache is put back as it was for the tests after this one."""
    # the wrapper first: it sets LiteLLM up before importing it (no cost map download)
    pytest.importorskip("streamproof.conformance.libraries.litellm", reason='litellm is not installed: pip install "streamproof[litellm]"')
    from litellm import anthropic_beta_headers_manager

    monkeypatch.setenv("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    monkeypatch.setattr(anthropic_beta_headers_manager, "_BETA_HEADERS_CONFIG", None)


@pytest.mark.parametrize("library", ["langchain", "litellm"])
@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("test_anthropic", "test_pause_turn_web_search_streaming_vcr.yaml"),  # thinking, web searches, results
        ("test_tool_search", "test_anthropic_native_tool_search_streaming.yaml"),  # a tool search and its result
    ],
)
def test_an_earlier_turns_anthropic_server_tool_blocks_are_passed_on(
    library: str, folder: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the follow-up request: its assistant turn carries server_tool_use / *_tool_result blocks, which
    # LangChain's ChatAnthropic and LiteLLM's anthropic/ route take as Anthropic content blocks
    if library == "litellm":
        litellm_local_beta_headers(monkeypatch)
    path = REAL / folder / name
    if path.exists():
        turn = load_cassette(path).interactions[1].request.json()["messages"][1]
        assert {block["type"] for block in turn["content"]} & {"server_tool_use", "tool_search_tool_result"}
    status, message, _ = request_verdict(library, path, index=1)
    assert status == "pass", message


def test_sdk_helpers_keep_the_stop_the_chat_helper_gave_before_an_error() -> None:
    path = REAL / "test_openrouter" / "test_openrouter_stream_error.yaml"
    if not path.exists():
        pytest.skip(f"{path} is not present")
    case = Case(path, path.parent, load_cassette(path).interactions[0])
    # the recorded bytes, read with the standard library: a length finish, then an error chunk
    chunks = [json.loads(line[5:]) for line in case.interaction.response.body.decode().splitlines() if line.startswith("data:") and "[DONE]" not in line]
    finishes = [n for n, c in enumerate(chunks) if c["choices"] and c["choices"][0].get("finish_reason") == "length"]
    errors = [n for n, c in enumerate(chunks) if c.get("error")]
    assert finishes and errors and finishes[0] < errors[0]
    run = asyncio.run(run_call(load_adapter("sdk-helpers"), case, served_from_interaction(case.interaction, recorded_timing=False)))
    assert run.error is not None and run.result is None  # the error after the stop still fails the call
    stops = [event for event in run.events if event["kind"] == "stop"]
    assert stops == [{"kind": "stop", "reason": "max_tokens", "provider_reason": "length"}]


def library_run(library: str, path: Path) -> Any:
    module = {"litellm": "streamproof.conformance.libraries.litellm"}.get(library, EXTRA.get(library, library))
    pytest.importorskip(module, reason=f'{library} is not installed: pip install "streamproof[{library}]"')
    if not path.exists():
        pytest.skip(f"{path} is not present")
    case = Case(path, path.parent, load_cassette(path).interactions[0])
    return asyncio.run(run_call(load_adapter(library), case, served_from_interaction(case.interaction, recorded_timing=False)))


def sse_data(path: Path) -> list[dict[str, Any]]:
    """The JSON of the recorded body's ``data:`` lines, by the standard library alone."""
    body = load_cassette(path).interactions[0].response.body.decode()
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip() != "[DONE]"]


@pytest.mark.parametrize("library", ["litellm", "any-llm"])
def test_openrouters_cache_write_count_is_reported_as_the_library_gives_it(library: str) -> None:
    path = REAL / "test_openrouter" / "test_openrouter_web_search_annotations_stream.yaml"
    run = library_run(library, path)
    assert isinstance(run.result, dict), run.error
    usage = next(chunk["usage"] for chunk in sse_data(path) if chunk.get("usage"))
    assert usage["prompt_tokens_details"]["cache_write_tokens"] == 0  # a count OpenRouter sent: none written
    # LiteLLM's prompt_tokens_details.cache_write_tokens, the openai SDK's declared field (any-llm)
    assert run.result["usage"]["cache_write_tokens"] == 0


def test_litellms_redacted_thinking_blocks_stay_apart() -> None:
    path = REAL / "test_anthropic" / "test_anthropic_model_thinking_part_redacted_stream.yaml"
    starts = [e["content_block"] for e in sse_data(path) if e["type"] == "content_block_start"] if path.exists() else []
    assert not path.exists() or [b["type"] for b in starts][:2] == ["redacted_thinking", "redacted_thinking"]
    run = library_run("litellm", path)
    assert isinstance(run.result, dict), run.error
    case = Case(path, path.parent, load_cassette(path).interactions[0])
    hidden = snapshot_data(case, Verdict("snapshot", "pass", events=run.events))["events"]
    assert [(e["block"], e["data"]) for e in hidden if e["kind"] == "hidden_reasoning"] == [
        (0, starts[0]["data"]),
        (1, starts[1]["data"]),
    ]


def test_litellm_passes_anthropics_defer_loading_on(monkeypatch: pytest.MonkeyPatch) -> None:
    litellm_local_beta_headers(monkeypatch)
    path = REAL / "test_tool_search" / "test_anthropic_native_tool_search_streaming.yaml"
    deferred = sorted(t["name"] for t in load_cassette(path).interactions[0].request.json()["tools"] if t.get("defer_loading")) if path.exists() else []
    run = library_run("litellm", path)
    assert not run.network, run.network
    body = run.requests[0].body
    assert isinstance(body, dict)
    # LiteLLM takes defer_loading beside an OpenAI function tool and puts it on the Anthropic tool
    assert deferred and sorted(t["name"] for t in body["tools"] if t.get("defer_loading") is True) == deferred


def test_any_llm_gets_an_earlier_turns_anthropic_blocks_when_the_turn_has_no_tool_calls() -> None:
    path = REAL / "test_anthropic" / "test_pause_turn_web_search_streaming_vcr.yaml"
    pytest.importorskip("any_llm", reason='any-llm is not installed: pip install "streamproof[any-llm]"')
    if not path.exists():
        pytest.skip(f"{path} is not present")
    case = Case(path, path.parent, load_cassette(path).interactions[1])
    turn = case.interaction.request.json()["messages"][1]["content"]
    run = asyncio.run(run_call(load_adapter("any-llm"), case, served_from_interaction(case.interaction, recorded_timing=False)))
    body = run.requests[0].body
    assert isinstance(body, dict)
    # thinking, server tool use and web search results, as recorded (any-llm passes list content on)
    sent = body["messages"][1]["content"]
    assert isinstance(sent, list) and [block["type"] for block in sent] == [block["type"] for block in turn]
