"""The shipped library wrappers (``streamproof check --adapter NAME``) on a few bundled cassettes.

Each test runs the whole battery for one library on two or three cassettes and asserts the verdicts
observed: which checks pass, and which fail because of the library, each with the library's reason.
A library that is not installed skips its test (CI installs every extra).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.matrix import read_junit
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name
from streamproof.conformance.protocol import ITEMS, AdapterLoadError, load_adapter


def run_library(
    tmp_path: Path, library: str, names: tuple[str, ...]
) -> dict[tuple[str, str], tuple[str, str]]:
    """``streamproof check --adapter library`` on these bundled cassettes: ``(case, check) -> (status, message)``."""
    folder = tmp_path / "cassettes"
    snapshots = tmp_path / "snapshots" / "suite"
    snapshots.mkdir(parents=True)
    for name in names:
        target = folder / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", target)
    for case in discover_cases(folder):
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots)
    junit = tmp_path / "check.xml"
    main(
        [
            "check",
            "--adapter",
            library,
            "--cassettes",
            str(folder),
            "--snapshots",
            str(snapshots.parent),
            "--junit",
            str(junit),
        ]
    )
    items = {(r.case_id, r.check): (r.status, r.message) for r in read_junit(junit)}
    assert sorted(items) == sorted((case.id, item) for case in discover_cases(folder) for item in ITEMS)
    return items


def failing(items: dict[tuple[str, str], tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {key: message for key, (status, message) in items.items() if status == "fail"}


def test_short_names_load_the_wrappers_and_a_missing_library_says_which_extra() -> None:
    assert load_adapter("reference").name == "streamproof-reference"
    assert load_adapter("sdk-helpers").name.startswith("sdk-helpers")
    with pytest.raises(AdapterLoadError, match=r"MODULE:FACTORY, .* or one of reference, sdk-helpers"):
        load_adapter("no-such-library")


def test_sdk_helpers(tmp_path: Path) -> None:
    items = run_library(
        tmp_path,
        "sdk-helpers",
        ("openai/chat/max_tokens", "openai/responses/max_tokens", "anthropic/messages/reasoning"),
    )
    failed = failing(items)
    assert set(failed) == {
        ("openai/chat/max_tokens#0", "outcome"),
        ("anthropic/messages/reasoning#0", "faults[clean_end]"),
    }
    # chat.completions.stream() raises LengthFinishReasonError on a length stop: no max_tokens result,
    # though its events (the stop its snapshot took from the finish chunk included) are all there
    assert "LengthFinishReasonError" in failed["openai/chat/max_tokens#0", "outcome"]
    assert items["openai/chat/max_tokens#0", "snapshot"][0] == "pass"
    # messages.stream() hands over a final message for a stream that ended before message_stop
    assert (
        "expected 'LLMIncompleteStreamError', got 'no error'"
        in failed["anthropic/messages/reasoning#0", "faults[clean_end]"]
    )
    assert all(items["openai/responses/max_tokens#0", item][0] == "pass" for item in ITEMS)


def test_pydantic_ai(tmp_path: Path) -> None:
    pytest.importorskip(
        "pydantic_ai", reason='pydantic-ai is not installed: pip install "streamproof[pydantic-ai]"'
    )
    items = run_library(
        tmp_path,
        "pydantic-ai",
        ("openai/chat/refusal", "anthropic/messages/tool_call_no_args", "anthropic/messages/reasoning"),
    )
    failed = failing(items)
    assert set(failed) == {
        ("openai/chat/refusal#0", "outcome"),
        ("openai/chat/refusal#0", "snapshot"),
        ("openai/chat/refusal#0", "faults[clean_end]"),
    }
    outcome = failed["openai/chat/refusal#0", "outcome"]
    # RequestUsage counts from 0: a cache write OpenAI never reports comes out as 0, not "not reported"
    assert "outcome.usage.cache_write_tokens: expected null, got 0" in outcome
    # the refusal text is not streamed, and the stop is content_filter
    assert "outcome.stop_reason: expected 'refusal', got 'content_filter'" in outcome
    assert '"reason": "content_filter"' in failed["openai/chat/refusal#0", "snapshot"]
    # a refusal stream cut cleanly before its end is taken as complete
    assert "got 'no error'" in failed["openai/chat/refusal#0", "faults[clean_end]"]
    for case in ("anthropic/messages/tool_call_no_args#0", "anthropic/messages/reasoning#0"):
        assert all(items[case, item][0] == "pass" for item in ITEMS)


def test_langchain(tmp_path: Path) -> None:
    pytest.importorskip(
        "langchain_openai", reason='langchain is not installed: pip install "streamproof[langchain]"'
    )
    pytest.importorskip(
        "langchain_anthropic", reason='langchain is not installed: pip install "streamproof[langchain]"'
    )
    items = run_library(
        tmp_path,
        "langchain",
        ("openai/chat/refusal", "anthropic/messages/reasoning", "openai/responses/text"),
    )
    failed = failing(items)
    # a streamed refusal (delta.refusal) never reaches the AIMessageChunks: no refusal event, stop end_turn
    assert set(failed) == {("openai/chat/refusal#0", "outcome"), ("openai/chat/refusal#0", "snapshot")}
    assert (
        "outcome.stop_reason: expected 'refusal', got 'end_turn'"
        in failed["openai/chat/refusal#0", "outcome"]
    )
    assert all(items["anthropic/messages/reasoning#0", item][0] == "pass" for item in ITEMS)
    # Responses requests are not wrapped (LangChain's Responses mode has an input format of its own)
    assert {items["openai/responses/text#0", item][0] for item in ITEMS} == {"skip"}


def test_litellm(tmp_path: Path) -> None:
    # the wrapper, not litellm itself: imported bare, litellm fetches its cost map from the network
    pytest.importorskip(
        "streamproof.conformance.libraries.litellm",
        reason='litellm is not installed: pip install "streamproof[litellm]"',
    )
    items = run_library(tmp_path, "litellm", ("anthropic/messages/reasoning", "openai/chat/text"))
    failed = failing(items)
    messages, chat = "anthropic/messages/reasoning#0", "openai/chat/text#0"
    assert set(failed) == {
        (messages, "outcome"),
        (messages, "snapshot"),
        (messages, "faults[rate_limit]"),
        (messages, "faults[overloaded]"),
        (messages, "faults[mid_stream_error]"),
        (messages, "faults[malformed_chunk]"),
        (chat, "faults[quota]"),
        (chat, "faults[mid_stream_error]"),
        (chat, "faults[malformed_chunk]"),
    }
    # Anthropic reports no reasoning token count; LiteLLM reports one of its own
    assert "outcome.usage.reasoning_tokens: expected null, got 32" in failed[messages, "outcome"]
    # Anthropic's stop_reason is replaced by OpenAI's finish_reason word
    assert "outcome.provider_stop_reason: expected 'end_turn', got 'stop'" in failed[messages, "outcome"]
    # its RateLimitError carries no retry-after; a 529 overloaded_error is an InternalServerError
    assert "error.retry_after: expected 1.0, got null" in failed[messages, "faults[rate_limit]"]
    assert "InternalServerError" in failed[messages, "faults[overloaded]"]
    # OpenAI's 429 insufficient_quota is a RateLimitError; an in-stream error event and a malformed
    # chunk are APIConnectionErrors
    assert "RateLimitError" in failed[chat, "faults[quota]"]
    assert "APIConnectionError" in failed[chat, "faults[mid_stream_error]"]
    assert "APIConnectionError" in failed[chat, "faults[malformed_chunk]"]


def test_any_llm(tmp_path: Path) -> None:
    pytest.importorskip("any_llm", reason='any-llm is not installed: pip install "streamproof[any-llm]"')
    items = run_library(tmp_path, "any-llm", ("anthropic/messages/redacted_thinking", "openai/chat/text"))
    failed = failing(items)
    case = "anthropic/messages/redacted_thinking#0"
    assert set(failed) == {(case, "outcome"), (case, "snapshot")}
    # Anthropic sent cache_read_input_tokens: 0; any-llm reports no cached count at all
    assert "outcome.usage.cached_input_tokens: expected 0, got null" in failed[case, "outcome"]
    # the thinking budget can only be given as a reasoning effort, which any-llm sends as adaptive
    # thinking: a declared gap of that one request field
    status, message = items[case, "request"]
    assert status == "xfail" and "request.thinking.type: expected 'enabled', got 'adaptive'" in message
    # the redacted_thinking block is dropped: the first event is text, not the hidden reasoning
    assert '"kind": "hidden_reasoning"' in failed[case, "snapshot"]
    assert all(items["openai/chat/text#0", item][0] == "pass" for item in ITEMS)
