"""Bedrock in the harness: the event-stream encoder, the emulator speaking Bedrock (scripted, with
faults), re-chunking at frame boundaries, and recording through ``AnthropicBedrock`` with no AWS
credential reaching the cassette. Every key here is invented, key-shaped."""

from __future__ import annotations

import base64
import json
import random
import secrets
import string
from pathlib import Path
from typing import Any

import httpx2
import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from streamproof.cli.main import main
from streamproof.harness.cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
)
from streamproof.harness.emulator import Emulator
from streamproof.harness.faults import apply_fault, parse_fault
from streamproof.harness.formats import FORMATS
from streamproof.harness.formats.bedrock_messages import EVENTSTREAM_CONTENT_TYPE, EXCEPTIONS, exception_reply
from streamproof.harness.formats.eventstream_encode import chunk_frame, encode_message, exception_frame
from streamproof.harness.rechunk import at_frames, at_random_offsets, byte_by_byte
from streamproof.harness.scenarios import CATALOGUE, Reply, Text
from streamproof.harness.scrub import Scrubber
from streamproof.harness.served import ServedChunk, ServedResponse
from streamproof.harness.wire import WireContext

BEDROCK = FORMATS["bedrock_messages"]
MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
STREAM_PATH = f"/model/{MODEL.replace(':', '%3A')}/invoke-with-response-stream"
SIGV4 = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE12/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "ab" * 32


def invented_key_id(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))


def invented_secret(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))


def decoded(body: bytes) -> list[Any]:
    """The messages of an event-stream body, read by botocore (CRCs checked)."""
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return list(buffer)


def inner_events(body: bytes) -> list[dict[str, Any]]:
    return [
        json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))
        for message in decoded(body)
        if message.headers[":message-type"] == "event"
    ]


def served_stream(name: str = "long_text") -> ServedResponse:
    answer = CATALOGUE[name].answer
    assert isinstance(answer, Reply)
    frames = BEDROCK.render_events(answer, WireContext("messages", MODEL, {}, random.Random(3)))
    headers = (("content-type", EVENTSTREAM_CONTENT_TYPE),)
    return ServedResponse(200, headers, tuple(ServedChunk(frame, i * 0.01) for i, frame in enumerate(frames)))


# --- the encoder ---------------------------------------------------------------------------------


def test_encoded_messages_round_trip_through_botocores_decoder() -> None:
    rng = random.Random(11)
    cases = [({":message-type": "event"}, b"")]
    for _ in range(40):
        headers = {
            "".join(rng.choice(string.ascii_letters + ":-") for _ in range(rng.randint(1, 30))): "".join(
                rng.choice("abcé€😀 ") for _ in range(rng.randint(0, 200))
            )
            for _ in range(rng.randint(0, 5))
        }
        cases.append((headers, rng.randbytes(rng.randint(0, 5000))))
    body = b"".join(encode_message(headers, payload) for headers, payload in cases)
    messages = decoded(body)
    assert [(m.headers, m.payload) for m in messages] == cases


def test_a_flipped_byte_fails_botocores_crc_check() -> None:
    frame = bytearray(chunk_frame({"type": "message_stop"}))
    frame[-6] ^= 0x01
    with pytest.raises(ChecksumMismatch):
        decoded(bytes(frame))


def test_chunk_and_exception_frames_have_bedrocks_headers_and_payloads() -> None:
    chunk, exception = decoded(chunk_frame({"type": "ping"}, {"x": 1}) + exception_frame("throttlingException", "slow"))
    assert chunk.headers == {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    assert json.loads(base64.b64decode(json.loads(chunk.payload)["bytes"])) == {"type": "ping", "x": 1}
    assert exception.headers[":message-type"] == "exception"
    assert exception.headers[":exception-type"] == "throttlingException"
    assert json.loads(exception.payload) == {"message": "slow"}


# --- the emulator --------------------------------------------------------------------------------


def post(emulator: Emulator, path: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.post(
        emulator.base_url + path,
        content=json.dumps(body),
        headers={"authorization": SIGV4, "x-amz-date": "20260101T000000Z", **headers},
        timeout=10,
    )


def wire_body(name: str) -> dict[str, Any]:
    return BEDROCK.wire_body(CATALOGUE[name].shape)  # type: ignore[attr-defined,no-any-return]


def test_the_emulator_streams_bedrock_frames_of_the_scenarios_anthropic_events() -> None:
    with Emulator() as emulator:
        reply = post(emulator, STREAM_PATH, wire_body("text"), **{"x-streamproof-scenario": "text"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == EVENTSTREAM_CONTENT_TYPE and reply.headers["x-amzn-requestid"]
    events = inner_events(reply.content)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    assert "ping" not in [e["type"] for e in events]
    assert events[0]["message"]["model"] == MODEL  # the model of the path, URL-decoded
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    answer = CATALOGUE["text"].answer
    assert isinstance(answer, Reply) and text == "".join(b.text for b in answer.blocks if isinstance(b, Text))
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == answer.usage.input_tokens
    assert metrics["outputTokenCount"] == answer.usage.output_tokens
    assert metrics["firstByteLatency"] <= metrics["invocationLatency"]
    assert all("amazon-bedrock-invocationMetrics" not in e for e in events[:-1])


def test_invoke_answers_the_message_json_and_bad_requests_a_validation_exception() -> None:
    with Emulator() as emulator:
        reply = post(emulator, f"/model/{MODEL}/invoke", wire_body("tool_call"), **{"x-streamproof-scenario": "tool_call"})
        no_version = post(emulator, STREAM_PATH, {"max_tokens": 5, "messages": []})
        with_model = post(emulator, STREAM_PATH, {**wire_body("text"), "model": MODEL})
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    message = reply.json()
    assert message["stop_reason"] == "tool_use" and message["content"][0]["name"] == "get_weather"
    for refused in (no_version, with_model):
        assert refused.status_code == 400 and refused.headers["x-amzn-errortype"] == "ValidationException"
        assert "Malformed input request" in refused.json()["message"]


@pytest.mark.parametrize(
    ("name", "status", "exception"),
    [
        ("bad_key", 403, "UnrecognizedClientException"),
        ("unknown_model", 400, "ValidationException"),
        ("context_overflow", 400, "ValidationException"),
    ],
)
def test_error_scenarios_answer_bedrocks_http_errors(name: str, status: int, exception: str) -> None:
    with Emulator() as emulator:
        reply = post(emulator, STREAM_PATH, wire_body(name), **{"x-streamproof-scenario": name})
    assert reply.status_code == status and reply.headers["x-amzn-errortype"] == exception
    assert set(reply.json()) == {"message"} and reply.headers["x-amzn-requestid"]


@pytest.mark.parametrize(
    ("spec", "status", "exception"),
    [
        ("rate_limit:retry_after=4", 429, "ThrottlingException"),
        ("server_error", 500, "InternalServerException"),
        ("unavailable", 503, "ServiceUnavailableException"),
        ("quota", 403, "AccessDeniedException"),
    ],
)
def test_status_faults_are_http_errors_with_x_amzn_errortype(spec: str, status: int, exception: str) -> None:
    with Emulator() as emulator:
        reply = post(emulator, STREAM_PATH, wire_body("text"), **{"x-streamproof-fault": spec})
    assert reply.status_code == status and reply.headers["x-amzn-errortype"] == exception
    assert EXCEPTIONS[exception] == status
    if spec.startswith("rate_limit"):
        assert reply.headers["retry-after"] == "4"


def test_every_bedrock_exception_has_its_status() -> None:
    for name, status in EXCEPTIONS.items():
        reply = exception_reply(name, "m")
        assert (reply.status, reply.body, dict(reply.headers)) == (status, {"message": "m"}, {"x-amzn-ErrorType": name})


def frames_of(body: bytes) -> list[bytes]:
    return at_frames(body, EVENTSTREAM_CONTENT_TYPE)


def test_mid_stream_error_is_an_exception_frame_after_whole_frames() -> None:
    served = served_stream()
    frames = frames_of(served.body)
    for style in (None, "throttlingException", "internalServerException", "validationException"):
        spec = "mid_stream_error:after=3" + (f",style={style}" if style else "")
        faulty = apply_fault(served, parse_fault(spec), wire_format="bedrock_messages")
        messages = decoded(faulty.body)
        assert faulty.body.startswith(b"".join(frames[:3])) and len(messages) == 4
        assert messages[-1].headers[":message-type"] == "exception"
        assert messages[-1].headers[":exception-type"] == (style or "modelStreamErrorException")
        assert not faulty.abort
    with pytest.raises(Exception, match="style groq is for chat, not messages"):
        apply_fault(served, parse_fault("mid_stream_error:style=groq"), wire_format="bedrock_messages")
    with pytest.raises(Exception, match="style throttlingException is for bedrock_messages, not anthropic_messages"):
        apply_fault(
            served_stream_sse(), parse_fault("mid_stream_error:style=throttlingException"), wire_format="anthropic_messages"
        )


def served_stream_sse() -> ServedResponse:
    return ServedResponse(200, (("content-type", "text/event-stream"),), tuple(ServedChunk(b"data: {}\n\n") for _ in range(6)))


def test_cuts_fall_on_frame_boundaries_and_malformed_chunk_breaks_a_payload() -> None:
    served = served_stream()
    frames = frames_of(served.body)
    cut = apply_fault(served, parse_fault("cut_events:after=4"), wire_format="bedrock_messages")
    assert cut.body == b"".join(frames[:4]) and cut.abort
    clean = apply_fault(served, parse_fault("cut_events:after=4,abort=false"), wire_format="bedrock_messages")
    assert clean.body == b"".join(frames[:4]) and not clean.abort
    broken = apply_fault(served, parse_fault("malformed_chunk:after=2"), wire_format="bedrock_messages")
    messages = decoded(broken.body)  # the framing still reads: the CRCs are right
    assert len(messages) == len(frames) and broken.body.endswith(b"".join(frames[3:]))
    with pytest.raises(json.JSONDecodeError):
        json.loads(messages[2].payload)
    # the recorded chunk times of the kept frames stay
    assert [c.at for c in cut.chunks] == [c.at for c in served.chunks[:4]]


def test_the_emulator_serves_bedrock_faults_over_a_socket() -> None:
    with Emulator() as emulator:
        whole = post(emulator, STREAM_PATH, wire_body("long_text"), **{"x-streamproof-scenario": "long_text"})
        failed = post(
            emulator,
            STREAM_PATH,
            wire_body("long_text"),
            **{"x-streamproof-scenario": "long_text", "x-streamproof-fault": "mid_stream_error:after=5,style=throttlingException"},
        )
        received: list[bytes] = []
        with httpx2.Client(timeout=10) as client, pytest.raises(httpx2.RemoteProtocolError):
            with client.stream(
                "POST",
                emulator.base_url + STREAM_PATH,
                content=json.dumps(wire_body("long_text")),
                headers={
                    "authorization": SIGV4,
                    "x-streamproof-scenario": "long_text",
                    "x-streamproof-fault": "cut_events:after=3",
                },
            ) as response:
                received.extend(response.iter_bytes())
    frames = frames_of(whole.content)
    messages = decoded(failed.content)
    assert failed.content.startswith(b"".join(frames[:5])) and len(messages) == 6
    assert messages[-1].headers[":exception-type"] == "throttlingException"
    assert b"".join(received) == b"".join(frames[:3])  # whole frames, then the connection drops


# --- re-chunking -----------------------------------------------------------------------------------


def test_rechunking_a_bedrock_body_keeps_every_byte_and_frames_cut_whole() -> None:
    served = served_stream("reasoning")
    body = served.body
    frames = frames_of(body)
    assert frames == [chunk.data for chunk in served.chunks]  # one frame per rendered event
    assert all(len(decoded(frame)) == 1 for frame in frames)
    for pieces in (frames, at_random_offsets(body, 5), list(byte_by_byte(body))):
        assert b"".join(pieces) == body
        buffer, messages = EventStreamBuffer(), []
        for piece in pieces:
            buffer.add_data(piece)
            messages += list(buffer)
        assert [(m.headers, m.payload) for m in messages] == [(m.headers, m.payload) for m in decoded(body)]


# --- scrubbing and scanning ------------------------------------------------------------------------


def bedrock_interaction(body: bytes, headers: dict[str, list[str]]) -> Interaction:
    request = RecordedRequest(
        "POST",
        "https://bedrock-runtime.us-east-1.amazonaws.com" + STREAM_PATH,
        Headers(headers),
        json.dumps(wire_body("text")).encode(),
    )
    response = RecordedResponse(200, "OK", Headers({"content-type": [EVENTSTREAM_CONTENT_TYPE]}), body, None)
    return Interaction(0, request, response)


def test_a_secret_streamed_across_frames_is_redacted_inside_them(tmp_path: Path) -> None:
    rng = random.Random(5)
    secret = invented_secret(rng)
    halves = (secret[:17], secret[17:])
    events = [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"key {halves[0]}"}}]
    events.append({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": halves[1] + " ok"}})
    body = b"".join(chunk_frame(event) for event in events) + chunk_frame({"type": "message_stop"})
    path = tmp_path / "c.yaml"
    scrubber = Scrubber(environ={"AWS_SECRET_ACCESS_KEY": secret})
    save_cassette(path, Cassette(path, [bedrock_interaction(body, {})], {}), scrubber)
    stored = load_cassette(path).interactions[0].response.body
    text = "".join(e["delta"]["text"] for e in inner_events(stored) if e["type"] == "content_block_delta")
    assert secret not in text and "<REDACTED:env:AWS_SECRET_ACCESS_KEY>" in text and text.endswith(" ok")
    assert halves[0] not in path.read_text() and halves[1] not in path.read_text()


def test_record_bedrock_through_the_real_sdk_leaves_no_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(secrets.randbits(32))
    key_id, secret = invented_key_id(rng), invented_secret(rng)
    token = "FwoGZXIvYXdzE" + "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(300))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    out = tmp_path / "out"
    with Emulator() as emulator:
        for name in ("tool_call", "unknown_model"):
            args = ["record", "--provider", "bedrock", "--api", "messages", "--scenario", name]
            assert main([*args, "--base-url", emulator.base_url, "--out", str(out)]) == 0
    path = out / "bedrock" / "messages" / "tool_call.yaml"
    raw = path.read_bytes()
    forbidden = [key_id, secret, token, token[:40], "AWS4-HMAC-SHA256", "Signature=", "x-amz-date", "x-amz-security-token"]
    forbidden += [base64.b64encode(value.encode()).decode()[:20] for value in (key_id, secret)]
    for text in forbidden:
        assert text.lower().encode() not in raw.lower(), text
    cassette = load_cassette(path)
    interaction = cassette.interactions[0]
    assert interaction.request.uri == f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{MODEL}/invoke-with-response-stream"
    assert "authorization" not in {name.lower() for name in interaction.request.headers}
    assert interaction.request.json()["anthropic_version"]  # the SDK's own
    assert "model" not in interaction.request.json() and "stream" not in interaction.request.json()
    assert cassette.metadata["provider"] == "bedrock" and cassette.metadata["api"] == "messages"
    events = inner_events(interaction.response.body)
    assert events[-1]["type"] == "message_stop"
    error = load_cassette(out / "bedrock" / "messages" / "unknown_model.yaml").interactions[0].response
    assert error.status == 400 and error.headers["x-amzn-errortype"] == "ValidationException"
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")  # scan judges by shapes here, not by the env's value
    assert main(["scan", str(out)]) == 0
    # a secret access key planted in the cassette, named as AWS names it, is caught
    planted = tmp_path / "planted.yaml"
    planted.write_text(path.read_text() + f"\n# aws_secret_access_key = {invented_secret(rng)}\n")
    assert main(["scan", str(planted)]) == 1
    # and one planted inside a frame's base64 payload of a binary body
    frame = chunk_frame({"type": "text", "text": f"AWS_SECRET_ACCESS_KEY={invented_secret(rng)}"})
    inside = tmp_path / "inside.yaml"
    inside.write_text("body: !!binary |\n  " + base64.b64encode(frame).decode() + "\n")
    assert main(["scan", str(inside)]) == 1
    key_in_frame = tmp_path / "key_in_frame.yaml"
    key_in_frame.write_text("body: !!binary |\n  " + base64.b64encode(chunk_frame({"t": invented_key_id(rng)})).decode() + "\n")
    assert main(["scan", str(key_in_frame)]) == 1


# --- replay and serving of recorded Bedrock cassettes (through the adapters' Bedrock interface) -----


def record_bedrock(out: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    rng = random.Random(9)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", invented_key_id(rng))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", invented_secret(rng))
    with Emulator() as emulator:
        scenarios = [arg for name in names for arg in ("--scenario", name)]
        args = ["record", "--provider", "bedrock", "--api", "messages", *scenarios, "--base-url", emulator.base_url]
        assert main([*args, "--out", str(out)]) == 0


def test_a_recorded_bedrock_stream_replays_alike_whole_by_frame_random_and_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamproof.harness.outcome import replay_interaction

    record_bedrock(tmp_path, monkeypatch, "reasoning")
    cassette = load_cassette(tmp_path / "bedrock" / "messages" / "reasoning.yaml")
    interaction = cassette.interactions[0]
    assert (interaction.api, interaction.provider, interaction.wire_format) == ("messages", "bedrock", "bedrock_messages")
    body = interaction.response.body
    recorded = replay_interaction(interaction)
    assert recorded.streamed and recorded.error is None and recorded.result is not None
    answer = CATALOGUE["reasoning"].answer
    assert isinstance(answer, Reply)
    assert recorded.result.text == "".join(b.text for b in answer.blocks if isinstance(b, Text))
    assert cassette.metadata["usage"] == recorded.result.contract_dict()["usage"]  # record's finalize read it
    for chunks in ([body], frames_of(body), at_random_offsets(body, 17), list(byte_by_byte(body))):
        again = replay_interaction(interaction, chunks=chunks)
        assert again.result is not None and again.result.contract_dict() == recorded.result.contract_dict()


def test_the_emulator_serves_recorded_bedrock_cassettes_to_anthropic_bedrock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anthropic

    record_bedrock(tmp_path, monkeypatch, "text")
    with Emulator(cassettes=tmp_path, recorded_timing=False) as emulator:
        client = anthropic.AnthropicBedrock(
            aws_access_key="AKIAEXAMPLEEXAMPLE12", aws_secret_key="x" * 40, aws_region="us-east-1",
            base_url=emulator.base_url, max_retries=0,
        )
        request = CATALOGUE["text"].request("messages", MODEL, provider="bedrock")
        with client.messages.stream(**{k: v for k, v in request.items() if k != "stream"}) as stream:
            text = "".join(stream.text_stream)
    answer = CATALOGUE["text"].answer
    assert isinstance(answer, Reply) and text == "".join(b.text for b in answer.blocks if isinstance(b, Text))


def test_record_all_plans_bedrock_with_the_others_and_alone_with_provider_bedrock() -> None:
    import argparse

    from streamproof.cli.record import add_arguments, plan

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    everything = plan(parser.parse_args(["--all", "--out", "x"]))
    bedrock = [job for job in everything if job.wire_format == "bedrock_messages"]
    assert [job.scenario for job in bedrock] == list(CATALOGUE)  # every scenario exists over Bedrock
    assert {(job.provider, job.api) for job in bedrock} == {("bedrock", "messages")}
    assert {job.path(Path("out")).parent for job in bedrock} == {Path("out/bedrock/messages")}
    alone = plan(parser.parse_args(["--all", "--provider", "bedrock", "--out", "x"]))
    assert alone == bedrock
    assert {job.wire_format for job in plan(parser.parse_args(["--all", "--provider", "groq", "--out", "x"]))} == {
        "openai_chat",
        "openai_responses",
        "anthropic_messages",
    }  # a provider of no format of its own only names the folder


def test_sigv4_session_token_and_aws_secret_shapes_are_scrubbed_and_scanned() -> None:
    from streamproof.harness.scrub import find_secrets

    rng = random.Random(21)
    key_id = "AKID" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))  # no AKIA
    signature = "".join(rng.choice("0123456789abcdef") for _ in range(64))
    token = "IQoJb3JpZ2luX2Vj" + "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(120))
    secret = invented_secret(rng)
    texts = {
        "aws-credential": f"AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/bedrock/aws4_request",
        "aws-signature": f"SignedHeaders=host;x-amz-date, Signature={signature}",
        "aws-session-token": f'{{"X-Amz-Security-Token": "{token}"}}',
        "aws-secret-key": f"aws_secret = {secret}",
    }
    for kind, text in texts.items():
        scrubbed = Scrubber(environ={}).scrub_text(text)
        assert f"<REDACTED:{kind}>" in scrubbed, (kind, scrubbed)
        assert key_id not in scrubbed and signature not in scrubbed and token not in scrubbed and secret not in scrubbed
        assert kind in {finding.kind for finding in find_secrets(text.encode(), environ={})}


def test_an_environment_secret_is_found_inside_base64_at_any_alignment() -> None:
    secret = invented_secret(random.Random(8))
    for prefix in ("", "a", "ab", "abc"):
        blob = base64.b64encode(f"{prefix}key={secret};".encode()).decode()
        scrubbed = Scrubber(environ={"AWS_SECRET_ACCESS_KEY": secret}).scrub_text(f'{{"data": "{blob}"}}')
        assert "<REDACTED:env:AWS_SECRET_ACCESS_KEY>" in scrubbed, prefix
        assert base64.b64encode(secret.encode()).decode()[4:36] not in scrubbed
