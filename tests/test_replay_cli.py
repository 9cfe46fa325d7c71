"""``replay_interaction`` and ``streamproof replay`` on synthetic vcrpy cassettes and on the real ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamproof.adapters.errors import LLMBadRequestError, LLMIncompleteStreamError, LLMServerError
from streamproof.cli.main import main
from streamproof.harness.cassette import load_cassette
from streamproof.harness.outcome import recorded_chunks, replay_interaction

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes"

CONTRACT_KEYS = {"cassette", "index", "provider", "api", "streamed", "status", "result", "error"}
RESULT_KEYS = {
    "text",
    "reasoning",
    "tool_calls",
    "usage",
    "stop_reason",
    "provider_stop_reason",
    "model",
    "response_id",
}
USAGE_KEYS = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
}

CHAT_SSE = (
    'data: {"id":"chatcmpl-7","model":"gpt-test","choices":[{"index":0,"delta":{"content":"Bon"}}]}\n\n'
    'data: {"id":"chatcmpl-7","model":"gpt-test","choices":[{"index":0,"delta":{"content":"jour"},"finish_reason":"stop"}]}\n\n'
    'data: {"id":"chatcmpl-7","model":"gpt-test","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
    "data: [DONE]\n\n"
)


def interaction(uri: str, status: int, content_type: str, body: str, **response_extra: Any) -> dict[str, Any]:
    return {
        "request": {"method": "POST", "uri": uri, "headers": {}, "body": '{"stream": true}'},
        "response": {
            "status": {"code": status, "message": "x"},
            "headers": {"Content-Type": [content_type], "x-request-id": ["req_42"]},
            "body": {"string": body},
            **response_extra,
        },
    }


def write_cassette(path: Path, *interactions: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"version": 1, "interactions": list(interactions)}))
    return path


@pytest.fixture
def mixed_cassette(tmp_path: Path) -> Path:
    return write_cassette(
        tmp_path / "mixed.yaml",
        interaction(
            "https://api.openai.com/v1/chat/completions", 200, "text/event-stream; charset=utf-8", CHAT_SSE
        ),
        interaction(
            "https://api.openai.com/v1/responses",
            400,
            "application/json",
            '{"error":{"message":"Invalid temperature","type":"invalid_request_error","code":"decimal_below_min_value"}}',
        ),
        interaction("https://api.openai.com/v1/files", 200, "application/json", '{"id":"file_1"}'),
        interaction(
            "https://api.openai.com/v1/chat/completions",
            200,
            "application/json",
            '{"id":"c2","model":"m","choices":[{"message":{"content":"hi"},"finish_reason":"length"}]}',
        ),
        interaction(
            "https://api.openai.com/v1/chat/completions",
            200,
            "text/event-stream",
            CHAT_SSE.replace("data: [DONE]\n\n", ""),
        ),
    )


def test_outcomes_branch_on_status_and_content_type_before_parsing(mixed_cassette: Path) -> None:
    outcomes = [replay_interaction(i) for i in load_cassette(mixed_cassette).interactions]
    streamed, http_error, other, json_reply, cut = outcomes
    assert streamed.streamed and streamed.result is not None and streamed.result.text == "Bonjour"
    assert streamed.events and streamed.error is None
    assert not http_error.streamed and http_error.result is None
    assert isinstance(http_error.error, LLMBadRequestError) and http_error.error.request_id == "req_42"
    assert (other.result, other.error) == (None, None)
    assert json_reply.result is not None and json_reply.result.stop_reason == "max_tokens"
    assert isinstance(cut.error, LLMIncompleteStreamError) and cut.result is None


def test_an_sse_error_status_is_mapped_not_parsed_as_a_stream(tmp_path: Path) -> None:
    path = write_cassette(
        tmp_path / "e.yaml",
        interaction(
            "https://api.openai.com/v1/chat/completions", 500, "text/event-stream", "not json at all"
        ),
    )
    outcome = replay_interaction(load_cassette(path).interactions[0])
    assert isinstance(outcome.error, LLMServerError) and outcome.error.status == 500


def test_recorded_chunk_offsets_are_replayed(tmp_path: Path) -> None:
    body = CHAT_SSE
    ends = [[7, 0.01], [100, 0.02], [len(body.encode()), 0.03]]
    path = write_cassette(
        tmp_path / "c.yaml",
        interaction(
            "http://127.0.0.1/v1/chat/completions", 200, "text/event-stream", body, streamproof_chunks=ends
        ),
    )
    recorded = load_cassette(path).interactions[0]
    assert [len(c) for c in recorded_chunks(recorded.response)] == [7, 93, len(body.encode()) - 100]
    split = replay_interaction(recorded)
    whole = replay_interaction(recorded, chunks=[body.encode()])
    assert split.result is not None and whole.result is not None and split.result.text == "Bonjour"
    assert split.result.contract_dict() == whole.result.contract_dict()


def test_cli_json_lines_have_exactly_the_contract(
    mixed_cassette: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = str(mixed_cassette)
    assert main(["replay", "--format", "json", given]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 5
    for index, line in enumerate(lines):
        assert set(line) == CONTRACT_KEYS
        assert line["cassette"] == given and line["index"] == index
    first = lines[0]
    assert (first["provider"], first["api"], first["streamed"], first["status"]) == (
        "openai",
        "chat",
        True,
        200,
    )
    assert first["result"]["text"] == "Bonjour" and set(first["result"]) == RESULT_KEYS
    assert first["result"]["usage"] == {
        **dict.fromkeys(USAGE_KEYS),
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
    }
    assert (
        lines[1]["error"]["type"] == "LLMBadRequestError"
        and "Invalid temperature" in lines[1]["error"]["message"]
    )
    assert lines[2]["api"] == "other" and lines[2]["result"] is None
    assert lines[4]["error"]["type"] == "LLMIncompleteStreamError"


def test_cli_corrupt_cassette_is_named_on_stderr_and_others_still_run(
    mixed_cassette: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.yaml"
    corrupt.write_text("interactions: [ {request: \n")
    assert main(["replay", "--format", "json", str(corrupt), str(mixed_cassette)]) == 1
    captured = capsys.readouterr()
    assert str(corrupt) in captured.err and "not valid YAML" in captured.err
    assert len(captured.out.splitlines()) == 5


def test_cli_text_format_is_readable(mixed_cassette: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(mixed_cassette)]) == 0
    out = capsys.readouterr().out
    assert "openai/chat  HTTP 200  streamed" in out
    assert "text: Bonjour" in out
    assert "error: LLMBadRequestError: Invalid temperature" in out
    assert "stop: end_turn (provider: stop)" in out
    assert "POST /v1/files: not a chat, responses or messages call" in out


def _check_types(line: dict[str, Any]) -> None:
    assert set(line) == CONTRACT_KEYS
    assert (
        isinstance(line["index"], int)
        and isinstance(line["status"], int)
        and isinstance(line["streamed"], bool)
    )
    assert line["api"] in ("chat", "responses", "messages", "other")
    assert isinstance(line["provider"], str) and line["provider"]
    result, error = line["result"], line["error"]
    if error is not None:
        assert set(error) == {"type", "message"} and all(isinstance(v, str) for v in error.values())
    if result is None:
        return
    assert set(result) == RESULT_KEYS
    assert isinstance(result["text"], str) and isinstance(result["reasoning"], str)
    for call in result["tool_calls"]:
        assert set(call) == {"id", "name", "arguments"} and all(isinstance(v, str) for v in call.values())
    assert set(result["usage"]) == USAGE_KEYS
    assert all(v is None or isinstance(v, int) for v in result["usage"].values())
    for key in ("stop_reason", "provider_stop_reason", "model", "response_id"):
        assert result[key] is None or isinstance(result[key], str)


def test_cli_json_on_every_real_cassette(capsys: pytest.CaptureFixture[str]) -> None:
    if not REAL.is_dir():
        pytest.skip("../shared/real-cassettes is not present")
    paths = sorted(str(p) for p in REAL.rglob("*.yaml"))
    assert main(["replay", "--format", "json", *paths]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == sum(len(load_cassette(p).interactions) for p in paths)
    for line in lines:
        _check_types(line)
    replayed = [line for line in lines if line["api"] != "other" and line["status"] < 400]
    assert replayed and all((line["result"] is None) != (line["error"] is None) for line in replayed)
