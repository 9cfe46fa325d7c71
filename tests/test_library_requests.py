"""The library wrappers' translation, both ways: the request each library sends for a recorded one
passes the request check (what the library can express is passed on, through its own options), and
the library's parts come out as the reference's reasoning blocks.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

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
