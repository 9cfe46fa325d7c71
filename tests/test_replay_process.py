"""What ``streamproof replay`` keeps while it replays a long stream (benchmarks/replay_process.py)."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from streamproof.adapters.events import LLMResult, TextDelta
from streamproof.adapters.formats.anthropic_messages import AnthropicMessagesInterface
from streamproof.benchmarks.bodies import anthropic_messages_body, openai_chat_body
from streamproof.benchmarks.replay_process import recorded_cassette
from streamproof.cli.main import main
from streamproof.harness.cassette import load_cassette
from streamproof.harness.outcome import Outcome, replay_interaction

MESSAGES_URL = "https://api.anthropic.com/v1/messages"
CHAT_URL = "https://api.openai.com/v1/chat/completions"


def _comparable(outcome: Outcome) -> tuple[object, ...]:
    error = (type(outcome.error).__name__, str(outcome.error)) if outcome.error is not None else None
    result = outcome.result.contract_dict() if outcome.result is not None else None
    return outcome.streamed, outcome.status, result, error


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (MESSAGES_URL, anthropic_messages_body(deltas=50)),
        (CHAT_URL, openai_chat_body(deltas=50)),
        # the events before a cut come out, then the error: the outcome is the error alone
        (MESSAGES_URL, anthropic_messages_body(deltas=50).rsplit(b"event: message_stop", 1)[0]),
        # an error event after some text
        (
            MESSAGES_URL,
            anthropic_messages_body(deltas=5).replace(
                b"event: content_block_stop",
                b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
                b"\n\nevent: content_block_stop",
            ),
        ),
    ],
    ids=["messages", "chat", "cut", "error_event"],
)
def test_replay_without_keeping_events_has_the_same_outcome(tmp_path: Path, url: str, body: bytes) -> None:
    path = tmp_path / "c.yaml"
    recorded_cassette(path, "anthropic" if url == MESSAGES_URL else "openai", "x", url, b"{}", body)
    interaction = load_cassette(path).interactions[0]
    kept = replay_interaction(interaction)
    lean = replay_interaction(interaction, keep_events=False)
    assert _comparable(lean) == _comparable(kept)
    assert kept.events and lean.events == []


def test_cli_replay_does_not_hold_a_streams_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the stream ends, the events already yielded are gone: a 40,000-event replay that held
    them all spent a quarter of its time on them, mostly in the garbage collector."""
    path = tmp_path / "long.yaml"
    body = anthropic_messages_body(deltas=2000)
    recorded_cassette(path, "anthropic", "messages", MESSAGES_URL, b"{}", body)
    alive_at_end: list[int] = []
    result = AnthropicMessagesInterface.result

    def counting_result(self: AnthropicMessagesInterface) -> LLMResult:
        alive_at_end.append(sum(1 for o in gc.get_objects() if type(o) is TextDelta))
        return result(self)

    monkeypatch.setattr(AnthropicMessagesInterface, "result", counting_result)
    gc.collect()
    before = sum(1 for o in gc.get_objects() if type(o) is TextDelta)
    assert main(["replay", "--format", "json", str(path)]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["error"] is None and len(line["result"]["text"]) > 6000  # 2,000 words of 3-4 characters
    assert len(alive_at_end) == 1 and alive_at_end[0] - before <= 10  # at most the last chunk's


def test_cli_replay_sets_what_was_alive_before_aside_from_the_collector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While it replays, the objects alive at its start (modules, classes) are frozen, so a full
    collection does not walk them; at the end they are the collector's again."""
    path = tmp_path / "c.yaml"
    recorded_cassette(path, "anthropic", "messages", MESSAGES_URL, b"{}", anthropic_messages_body(deltas=5))
    frozen_while_replaying: list[int] = []
    result = AnthropicMessagesInterface.result

    def noting_result(self: AnthropicMessagesInterface) -> LLMResult:
        frozen_while_replaying.append(gc.get_freeze_count())
        return result(self)

    monkeypatch.setattr(AnthropicMessagesInterface, "result", noting_result)
    before = gc.get_freeze_count()
    assert main(["replay", "--format", "json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["error"] is None
    assert frozen_while_replaying[0] > before + 1000  # the modules' objects, at least
    assert gc.get_freeze_count() == before
