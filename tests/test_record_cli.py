"""``streamproof record`` / ``emulate`` and the bundled cassettes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.cli.main import main
from streamproof.cli.record import Job, record
from streamproof.harness.cassette import load_cassette
from streamproof.harness.emulator import Emulator, IncomingRequest
from streamproof.harness.outcome import replay_interaction
from streamproof.harness.scenarios import CATALOGUE, PROVIDER_FOR_API, Failure, Reply, Text, catalogue_pairs
from streamproof.harness.served import ServedChunk, ServedResponse

BUNDLED = Path(__file__).parents[1] / "cassettes"


def test_recording_tees_the_stream_and_keeps_chunks_and_offsets(tmp_path: Path) -> None:
    with Emulator(event_delay=0.02) as emulator:
        job = Job("openai", "chat", "text", "gpt-4o-mini")
        result = record(job, tmp_path, emulator.base_url, "emulator", {"openai": "dummy"})
    assert result.expected and result.status == 200
    assert result.first_event_s is not None
    # the SDK had its first event long before the stream ended: nothing waited for the whole body
    assert result.total_s - result.first_event_s >= 0.02 * (result.events - 2)
    interaction = load_cassette(result.path).interactions[0]
    chunks = interaction.response.chunks
    assert chunks is not None
    ends = [end for end, _ in chunks]
    times = [seconds for _, seconds in chunks]
    assert ends == sorted(ends) and ends[-1] == len(interaction.response.body)
    assert times == sorted(times) and times[-1] - times[0] >= 0.02 * (len(chunks) - 3)
    # one network chunk per SSE event (the emulator flushes each one)
    decoder = SSEDecoder()
    assert len(chunks) == len(decoder.feed(interaction.response.body) + decoder.close())


def test_record_writes_the_layout_and_metadata_and_canonical_urls(tmp_path: Path, capsys: Any) -> None:
    with Emulator() as emulator:  # not started by record: found by its identity probe
        scenarios = ["--scenario", "tool_call", "--scenario", "unknown_model"]
        code = main(
            [
                "record",
                "--api",
                "messages",
                *scenarios,
                "--base-url",
                emulator.base_url,
                "--out",
                str(tmp_path),
            ]
        )
    assert code == 0
    out = capsys.readouterr().out
    assert "tool_call" in out and "unknown_model" in out and "2 cassette(s)" in out
    cassette = load_cassette(tmp_path / "anthropic" / "messages" / "tool_call.yaml")
    meta = cassette.metadata
    assert (meta["source"], meta["provider"], meta["api"], meta["scenario"]) == (
        "emulator",
        "anthropic",
        "messages",
        "tool_call",
    )
    assert meta["usage"]["prompt_tokens"] == 64 and meta["sdk_versions"]["anthropic"]
    assert cassette.interactions[0].request.uri == "https://api.anthropic.com/v1/messages"
    failed = load_cassette(tmp_path / "anthropic" / "messages" / "unknown_model.yaml").interactions[0]
    assert failed.response.status == 404
    assert failed.request.json()["model"] == "claude-does-not-exist"


def test_record_refuses_bad_requests_before_recording(tmp_path: Path, monkeypatch: Any, capsys: Any) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["record", "--api", "chat", "--scenario", "text", "--out", str(tmp_path)]) == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert (
        main(["record", "--api", "chat", "--scenario", "juggling", "--emulator", "--out", str(tmp_path)]) == 2
    )
    assert "unknown scenario 'juggling'" in capsys.readouterr().err
    assert (
        main(["record", "--api", "chat", "--scenario", "reasoning", "--emulator", "--out", str(tmp_path)])
        == 2
    )
    assert "never streams reasoning" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_emulate_cli_serves_until_terminated(stop_signal: int) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamproof.cli",
            "emulate",
            "--port",
            "0",
            "--fault",
            "rate_limit:retry_after=4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("streamproof emulator listening on http://127.0.0.1:")
        base = first.rsplit(" ", 1)[1].strip()
        reply = httpx2.post(
            base + "/v1/chat/completions", headers={"authorization": "Bearer k"}, json={"model": "m"}
        )
        assert reply.status_code == 429 and reply.headers["retry-after"] == "4"
    finally:
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0


# --- the bundled cassettes ----------------------------------------------------------------------------


def test_the_whole_catalogue_is_bundled_and_replays() -> None:
    for api, name in catalogue_pairs():
        path = BUNDLED / PROVIDER_FOR_API[api] / api / f"{name}.yaml"
        assert path.exists(), f"missing bundled cassette {path}"
        assert path.stat().st_size < 80_000, f"{path} is too big for a bundled cassette"
        cassette = load_cassette(path)
        assert cassette.metadata["source"] == "emulator" and cassette.metadata["scenario"] == name
        outcome = replay_interaction(cassette.interactions[0])
        answer = CATALOGUE[name].answer
        if isinstance(answer, Failure):
            assert outcome.error is not None and outcome.status >= 400
        else:
            assert isinstance(answer, Reply) and outcome.error is None and outcome.result is not None
            expected_text = "".join(b.text for b in answer.blocks if isinstance(b, Text))
            if expected_text:
                assert outcome.result.text == expected_text, (api, name)


def structure(path: Path) -> dict[str, Any]:
    """What a re-recording must reproduce: everything but times, dates and per-request ids."""
    raw = yaml.safe_load(path.read_text())
    interaction = load_cassette(path).interactions[0]
    events = []
    decoder = SSEDecoder()
    for name, text, _ in decoder.feed(interaction.response.body) + decoder.close():
        data = json.loads(text) if text.startswith("{") else text
        events.append((name, sorted(data) if isinstance(data, dict) else data, _content(data)))
    # the recording time and the installed SDK versions change with every re-recording
    meta = {k: v for k, v in raw["streamproof"].items() if k not in ("recorded_at", "sdk_versions")}
    return {
        "meta": meta,
        "uri": interaction.request.uri,
        "request": interaction.request.json(),
        "status": interaction.response.status,
        "content_type": interaction.response.content_type,
        "events": events,
        "chunks kept": bool(interaction.response.chunks),  # how many depends on the network: not compared
        "body": None if interaction.response.is_sse else _without_ids(json.loads(interaction.response.body)),
    }


def _content(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    if "delta" in data:
        return data["delta"]
    choices = data.get("choices")
    return choices[0].get("delta") if choices else data.get("usage")


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


def test_bundled_cassettes_are_recreated_by_the_one_command(tmp_path: Path) -> None:
    subset = ["text", "tool_call", "reasoning", "context_overflow"]
    args = ["record", "--all", "--emulator", "--out", str(tmp_path)]
    assert main([*args, *(arg for name in subset for arg in ("--scenario", name))]) == 0
    compared = 0
    for api, name in catalogue_pairs():
        if name not in subset:
            continue
        relative = Path(PROVIDER_FOR_API[api]) / api / f"{name}.yaml"
        assert structure(tmp_path / relative) == structure(BUNDLED / relative), relative
        compared += 1
    assert compared == 11  # reasoning does not exist for chat


def test_readme_documents_the_command() -> None:
    readme = (BUNDLED / "README.md").read_text()
    assert "streamproof record --all --emulator --out cassettes" in readme


class _Anonymous(Emulator):
    """An OpenAI-compatible server that does not say it is an emulator (stands in for a live one)."""

    def respond(self, request: IncomingRequest) -> ServedResponse:
        if request.path.endswith("/streamproof/identity"):
            return ServedResponse(404, (("content-type", "application/json"),), (ServedChunk(b"{}"),))
        return super().respond(request)


def test_recording_an_openai_compatible_server_counts_as_live(tmp_path: Path, monkeypatch: Any) -> None:
    key = "gsk_live_looking_key_0123456789abcdefXYZ"
    monkeypatch.setenv("GROQ_API_KEY", key)
    with _Anonymous() as server:
        args = [
            "record",
            "--api",
            "chat",
            "--scenario",
            "text",
            "--provider",
            "groq",
            "--key-env",
            "GROQ_API_KEY",
        ]
        assert main([*args, "--base-url", server.openai_base_url, "--out", str(tmp_path)]) == 0
    path = tmp_path / "groq" / "chat" / "text.yaml"
    cassette = load_cassette(path)
    assert cassette.metadata["source"] == "live" and cassette.metadata["provider"] == "groq"
    assert cassette.interactions[0].request.uri.startswith(server.base_url)  # a live URL is kept as it was
    assert key not in path.read_text()
    monkeypatch.delenv("GROQ_API_KEY")
    assert main([*args, "--base-url", server.openai_base_url, "--out", str(tmp_path)]) == 2


def test_list_prints_the_catalogue(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["record", "--list"]) == 0
    out = capsys.readouterr().out
    for name in CATALOGUE:
        assert name in out
    assert main(["record", "--all"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


def test_recording_a_fault_is_labelled_synthetic(tmp_path: Path, capsys: Any) -> None:
    args = ["record", "--api", "chat", "--scenario", "long_text", "--fault", "cut_events:after=6", "--out"]
    assert main([*args, str(tmp_path / "live")]) == 2  # no emulator: refused
    assert "--fault needs the emulator" in capsys.readouterr().err
    assert main([*args, str(tmp_path), "--emulator"]) == 0
    cassette = load_cassette(tmp_path / "openai" / "chat" / "long_text.yaml")
    assert cassette.metadata["synthetic"] == "fault=cut_events:after=6"
    response = cassette.interactions[0].response
    assert response.headers["x-streamproof-synthetic"] == "fault=cut_events:after=6"
    assert response.body.count(b"\n\n") == 6  # what reached the client before the connection dropped
    assert replay_interaction(cassette.interactions[0]).error.__class__.__name__ == "LLMIncompleteStreamError"
