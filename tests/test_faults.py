"""Fault injection: derived from any interaction, and reaching the real SDKs as the real thing would."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters import errors
from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.cli.main import main
from streamproof.harness.cassette import (
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
)
from streamproof.harness.emulator import Emulator
from streamproof.harness.faults import (
    SYNTHETIC_HEADER,
    Fault,
    FaultError,
    apply_fault,
    fault_interaction,
    fault_shape,
    faulted_interaction,
    parse_fault,
)
from streamproof.harness.outcome import replay_interaction
from streamproof.harness.rechunk import at_events
from streamproof.harness.replayer import use_cassette
from streamproof.harness.scenarios import CATALOGUE
from streamproof.harness.served import ServedChunk, ServedResponse, served_from_interaction

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes" / "pydantic-ai"
THINKING = REAL / "test_anthropic" / "test_anthropic_model_thinking_part_stream.yaml"
RESPONSES = REAL / "test_openai_responses" / "test_openai_responses_streaming_usage.yaml"


def real(path: Path) -> Any:
    if not path.exists():
        pytest.skip(f"real capture not present: {path}")
    return load_cassette(path).interactions[0]


def events_of(body: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    return [(event, data) for event, data, _ in decoder.feed(body) + decoder.close()]


def sse_served(events: list[bytes], step: float = 0.1) -> ServedResponse:
    chunks = tuple(ServedChunk(event, i * step) for i, event in enumerate(events))
    return ServedResponse(200, (("content-type", "text/event-stream"),), chunks)


# --- specs ----------------------------------------------------------------------------------------


def test_parse_fault_specs() -> None:
    assert parse_fault("rate_limit:retry_after=7") == Fault("rate_limit", retry_after=7.0)
    assert parse_fault("cut_bytes:120") == Fault("cut_bytes", after=120)
    assert parse_fault("cut_events:after=2,abort=false") == Fault("cut_events", after=2, abort=False)
    assert parse_fault("stall:seconds=0.5,after=1") == Fault("stall", after=1, seconds=0.5)
    for spec in ("mid_stream_error:after=4,style=groq", "stall:seconds=3", "rate_limit:retry_after=1.5"):
        assert parse_fault(spec).spec == spec  # the label round-trips


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("teapot", "unknown fault kind 'teapot'"),
        ("cut_events:later=3", "unknown parameter(s) later"),
        ("stall:seconds=soon", "could not convert"),
        ("cut_bytes:-4", "must not be negative"),
        ("mid_stream_error:style=shouty", "unknown mid_stream_error style 'shouty'"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, named: str) -> None:
    with pytest.raises(FaultError, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_fault(spec)


# --- derived from recorded interactions -----------------------------------------------------------


def test_mid_stream_error_spliced_into_a_real_anthropic_prefix() -> None:
    interaction = real(THINKING)
    served = fault_interaction(interaction, parse_fault("mid_stream_error:after=5"))
    original = at_events(interaction.response.body)
    assert served.body.startswith(b"".join(original[:5]))
    events = events_of(served.body)
    assert len(events) == 6
    assert events[-1][0] == "error"
    assert json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
    assert served.synthetic == "mid_stream_error:after=5"
    assert served.header(SYNTHETIC_HEADER) == "fault=mid_stream_error:after=5"
    assert not served.abort


def test_responses_error_event_continues_the_sequence_numbers() -> None:
    interaction = real(RESPONSES)
    for style, kind in ((None, "response.failed"), ("error", "error")):
        served = fault_interaction(interaction, Fault("mid_stream_error", after=4, style=style))
        events = events_of(served.body)
        numbers = [json.loads(data)["sequence_number"] for _, data in events]
        assert numbers == list(range(5))
        assert events[-1][0] == kind
        if kind == "response.failed":
            failed = json.loads(events[-1][1])["response"]
            assert failed["status"] == "failed" and failed["id"].startswith("resp_")


def test_cuts_and_malformed_chunks_keep_the_recorded_prefix() -> None:
    interaction = real(THINKING)
    body = interaction.response.body
    cut = fault_interaction(interaction, parse_fault("cut_bytes:333"))
    assert cut.body == body[:333] and cut.abort
    clean = fault_interaction(interaction, parse_fault("cut_events:after=2,abort=false"))
    assert clean.body == b"".join(at_events(body)[:2]) and not clean.abort
    broken = fault_interaction(interaction, parse_fault("malformed_chunk:after=3"))
    events = events_of(broken.body)
    assert len(events) == len(events_of(body))
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[3][1])
    assert events[4:] == events_of(body)[4:]


def test_faults_keep_recorded_chunk_times() -> None:
    events = [f'data: {{"n":{i}}}\n\n'.encode() for i in range(6)]
    served = sse_served(events)
    errored = apply_fault(served, Fault("mid_stream_error", after=2), api="chat")
    assert [c.at for c in errored.chunks] == [0.0, 0.1, 0.1]
    stalled = apply_fault(served, Fault("stall", after=3, seconds=5), api="chat")
    assert [round(c.at, 3) for c in stalled.chunks] == [0.0, 0.1, 0.2, 5.3, 5.4, 5.5]
    assert stalled.body == served.body
    slow_start = apply_fault(served, Fault("stall", seconds=5), api="chat")
    assert slow_start.stall_before_headers == 5 and slow_start.chunks == served.chunks
    # a chunk that straddles the cut is split, and both halves keep its time
    lumpy = ServedResponse(
        200, served.headers, (ServedChunk(b"".join(events[:3]), 0.5), ServedChunk(events[3], 0.9))
    )
    cut = apply_fault(lumpy, Fault("cut_events", after=2), api="chat")
    assert [(c.data, c.at) for c in cut.chunks] == [(b"".join(events[:2]), 0.5)]


def test_faults_that_cannot_apply_say_why() -> None:
    with pytest.raises(FaultError, match="unknown fault kind 'teapot'"):
        Fault("teapot")
    with pytest.raises(FaultError, match="style groq is for chat, not messages"):
        apply_fault(sse_served([b"data: 1\n\n"] * 5), Fault("mid_stream_error", style="groq"), api="messages")
    json_response = ServedResponse(200, (("content-type", "application/json"),), (ServedChunk(b"{}"),))
    with pytest.raises(FaultError, match="needs a streamed \\(SSE\\) response"):
        apply_fault(json_response, Fault("mid_stream_error"), api="chat")
    with pytest.raises(FaultError, match="the stream has only 2"):
        apply_fault(sse_served([b"data: 1\n\n", b"data: 2\n\n"]), Fault("cut_events", after=5), api="chat")


def test_status_faults_use_each_providers_error_body() -> None:
    served = sse_served([b'data: {"model":"gpt-4o-mini"}\n\n'])
    limited = apply_fault(served, parse_fault("rate_limit:retry_after=7"), api="chat")
    assert limited.status == 429 and limited.header("retry-after") == "7"
    assert json.loads(limited.body)["error"]["code"] == "rate_limit_exceeded"
    assert "gpt-4o-mini" in json.loads(limited.body)["error"]["message"]
    overloaded = apply_fault(served, Fault("overloaded"), api="messages")
    assert overloaded.status == 529
    assert json.loads(overloaded.body)["error"]["type"] == "overloaded_error"
    assert overloaded.header("request-id") == json.loads(overloaded.body)["request_id"]


# --- through the emulator and the real SDKs --------------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@functools.cache
def clients(emulator: Emulator, timeout: float = 10.0) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    return (
        openai.OpenAI(base_url=emulator.openai_base_url, api_key="dummy", max_retries=0, timeout=timeout),
        anthropic.Anthropic(
            base_url=emulator.anthropic_base_url, api_key="dummy", max_retries=0, timeout=timeout
        ),
    )


def stream(emulator: Emulator, api: str, fault: str, name: str = "long_text", timeout: float = 10.0) -> Any:
    oa, an = clients(emulator, timeout)
    headers = {"x-streamproof-scenario": name, "x-streamproof-fault": fault}
    kwargs = CATALOGUE[name].request(api)
    if api == "chat":
        return oa.chat.completions.create(**kwargs, extra_headers=headers)
    if api == "responses":
        return oa.responses.create(**kwargs, extra_headers=headers)
    return an.messages.create(**kwargs, extra_headers=headers)


def consume(events: Any) -> list[Any]:
    seen: list[Any] = []
    try:
        for event in events:
            seen.append(event)
    except Exception as exc:
        exc.seen = seen  # type: ignore[attr-defined]
        raise
    return seen


def test_rate_limit_reaches_both_sdks_with_retry_after(emulator: Emulator) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        stream(emulator, "chat", "rate_limit:retry_after=7")
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    with pytest.raises(anthropic.RateLimitError) as limited:
        stream(emulator, "messages", "rate_limit:retry_after=3")
    assert limited.value.response.headers["retry-after"] == "3"


def test_server_errors_and_overload(emulator: Emulator) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        stream(emulator, "responses", "server_error")
    assert caught.value.status_code == 500
    with pytest.raises(openai.InternalServerError) as unavailable:
        stream(emulator, "chat", "unavailable")
    assert unavailable.value.status_code == 503
    with pytest.raises(anthropic.InternalServerError) as anthropic_500:
        stream(emulator, "messages", "server_error")
    assert anthropic_500.value.status_code == 500
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        stream(emulator, "messages", "overloaded")
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_mid_stream_errors_in_each_providers_format(emulator: Emulator) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        consume(stream(emulator, "messages", "mid_stream_error:after=6"))
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert len(caught.value.seen) >= 4  # type: ignore[attr-defined]  # events before the error arrived
    with pytest.raises(openai.APIError, match="server had an error") as chat_error:
        consume(stream(emulator, "chat", "mid_stream_error:after=6"))
    assert len(chat_error.value.seen) == 6  # type: ignore[attr-defined]
    events = consume(stream(emulator, "responses", "mid_stream_error:after=6"))
    assert events[-1].type == "response.failed" and events[-1].response.error.code == "server_error"


def test_a_cut_is_an_incomplete_stream(emulator: Emulator) -> None:
    with pytest.raises(openai.APIConnectionError) as caught:
        consume(stream(emulator, "chat", "cut_events:after=5"))
    assert len(caught.value.seen) == 5  # type: ignore[attr-defined]
    with pytest.raises(
        httpx2.RemoteProtocolError, match="incomplete chunked read"
    ):  # anthropic does not wrap it
        consume(stream(emulator, "messages", "cut_bytes:700"))
    ended = consume(stream(emulator, "chat", "cut_events:after=5,abort=false"))
    assert len(ended) == 5 and all(chunk.choices[0].finish_reason is None for chunk in ended)


def test_a_malformed_chunk_breaks_the_sdk_parse(emulator: Emulator) -> None:
    with pytest.raises(json.JSONDecodeError):
        consume(stream(emulator, "chat", "malformed_chunk:after=4"))


def test_a_stall_hits_the_clients_read_timeout(emulator: Emulator) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        stream(emulator, "chat", "stall:seconds=30", timeout=0.3)
    with pytest.raises(anthropic.APITimeoutError):
        stream(emulator, "messages", "stall:seconds=30", timeout=0.3)
    with pytest.raises(httpx2.ReadTimeout):  # mid-stream, anthropic lets the transport error through
        consume(stream(emulator, "messages", "stall:seconds=30,after=3", timeout=0.3))
    assert time.monotonic() - started < 5


def test_server_wide_fault_and_faults_on_a_real_capture(tmp_path: Path) -> None:
    with Emulator(fault="rate_limit") as limited:
        with pytest.raises(openai.RateLimitError):
            stream(limited, "chat", "rate_limit", name="text")
    with Emulator(fault="mid_stream_error:after=5") as erroring:
        oa, _ = clients(erroring)
        with pytest.raises(openai.AuthenticationError):  # stream faults leave error answers alone
            oa.chat.completions.create(
                **CATALOGUE["bad_key"].request("chat"), extra_headers={"x-streamproof-scenario": "bad_key"}
            )
    real(THINKING)
    with Emulator(cassettes=THINKING, fault="mid_stream_error:after=8", recorded_timing=False) as replaying:
        _, an = clients(replaying)
        request = real(THINKING).request.json()
        request.pop("stream")
        with pytest.raises(anthropic.APIStatusError) as caught:
            consume(an.messages.create(**request, stream=True))
        seen = caught.value.seen  # type: ignore[attr-defined]
        assert [event.type for event in seen[:2]] == ["message_start", "content_block_start"]
        assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


# --- the same faults through the replay transports and the replay CLI ------------------------------

BUNDLED = Path(__file__).parents[1] / "cassettes"


def replayed(api: str, name: str, fault: str, timeout: float = 10.0) -> Any:
    provider = "anthropic" if api == "messages" else "openai"
    with use_cassette(
        BUNDLED / provider / api / f"{name}.yaml", shape=fault_shape(parse_fault(fault))
    ) as cassette:
        http_client = httpx2.Client(transport=cassette.transport(), timeout=timeout)
        kwargs = CATALOGUE[name].request(api)
        if api == "messages":
            return consume(
                anthropic.Anthropic(api_key="k", http_client=http_client, max_retries=0).messages.create(
                    **kwargs
                )
            )
        client = openai.OpenAI(api_key="k", http_client=http_client, max_retries=0)
        create = client.chat.completions.create if api == "chat" else client.responses.create
        return consume(create(**kwargs))


def test_replay_transports_serve_the_same_faults() -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        replayed("chat", "long_text", "rate_limit:retry_after=5")
    assert limited.value.response.headers["retry-after"] == "5"
    with pytest.raises(anthropic.OverloadedError):
        replayed("messages", "text", "overloaded")
    with pytest.raises(anthropic.APIStatusError) as caught:
        replayed("messages", "long_text", "mid_stream_error:after=7")
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(openai.APIConnectionError) as cut:
        replayed("chat", "long_text", "cut_events:after=9")
    assert len(cut.value.seen) == 9  # type: ignore[attr-defined]
    with pytest.raises(openai.APITimeoutError):
        replayed("responses", "text", "stall:seconds=5", timeout=0.2)


def test_replay_cli_injects_a_fault(capsys: Any) -> None:
    path = str(BUNDLED / "anthropic" / "messages" / "tool_call.yaml")
    assert main(["replay", path, "--format", "json", "--fault", "mid_stream_error:after=4"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["status"] == 200 and line["error"]["type"] == "LLMProviderOverloadedError"
    assert main(["replay", path, "--format", "json", "--fault", "cut_events:after=4,abort=false"]) == 0
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "LLMIncompleteStreamError"
    interaction = faulted_interaction(load_cassette(path).interactions[0], parse_fault("rate_limit"))
    assert interaction.response.status == 429 and interaction.response.headers["retry-after"] == "2"


# --- served_from_interaction: what every fault starts from -------------------------------------------


def recorded(
    body: bytes, chunks: list[tuple[int, float]] | None, content_type: str = "text/event-stream"
) -> Interaction:
    headers = Headers({"Content-Type": content_type, "Content-Length": "9", "Transfer-Encoding": "chunked"})
    request = RecordedRequest("POST", "https://api.openai.com/v1/chat/completions", Headers({}), b"{}")
    return Interaction(0, request, RecordedResponse(200, "OK", headers, body, chunks))


def test_served_keeps_recorded_chunks_and_times_and_drops_framing_headers() -> None:
    body = b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    served = served_from_interaction(recorded(body, [(5, 0.1), (20, 0.25)]))
    assert [(c.data, c.at) for c in served.chunks] == [(body[:5], 0.1), (body[5:20], 0.25), (body[20:], 0.25)]
    assert served.headers == (("Content-Type", "text/event-stream"),)
    instant = served_from_interaction(recorded(body, [(5, 0.1), (20, 0.25)]), recorded_timing=False)
    assert {c.at for c in instant.chunks} == {0.0}
    unrecorded = served_from_interaction(recorded(body, None))
    assert [c.data for c in unrecorded.chunks] == [b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"]
    as_json = served_from_interaction(recorded(b'{"a":1}', None, "application/json"))
    assert [c.data for c in as_json.chunks] == [b'{"a":1}'] and not as_json.is_sse


REFERENCE_ERRORS = {
    "rate_limit": "LLMRateLimitError",
    "server_error": "LLMServerError",
    "unavailable": "LLMServerError",
    "mid_stream_error:after=3": "LLMServerError",
    "cut_events:after=3": "LLMIncompleteStreamError",
    "cut_events:after=3,abort=false": "LLMIncompleteStreamError",
    "cut_bytes:200": "LLMIncompleteStreamError",
    "malformed_chunk:after=2": "MalformedStreamError",
}


@pytest.mark.parametrize(
    "relative",
    ["openai/chat/tool_call.yaml", "openai/responses/reasoning.yaml", "anthropic/messages/reasoning.yaml"],
)
def test_each_fault_gives_the_reference_stack_the_right_error(relative: str) -> None:
    """Offline, through the reference adapters: the error class each fault should produce."""
    interaction = load_cassette(BUNDLED / relative).interactions[0]
    assert replay_interaction(interaction).error is None
    for spec, expected in REFERENCE_ERRORS.items():
        outcome = replay_interaction(faulted_interaction(interaction, parse_fault(spec)))
        assert isinstance(outcome.error, getattr(errors, expected)), (relative, spec, outcome.error)
    overloaded = replay_interaction(faulted_interaction(interaction, parse_fault("overloaded"))).error
    if interaction.api == "messages":
        assert isinstance(overloaded, errors.LLMProviderOverloadedError)
        assert overloaded.status == 529 and overloaded.retryable
    limited = replay_interaction(
        faulted_interaction(interaction, parse_fault("rate_limit:retry_after=9"))
    ).error
    assert isinstance(limited, errors.LLMRateLimitError) and limited.retry_after == 9


def test_a_fault_header_that_cannot_apply_gets_a_400(emulator: Emulator) -> None:
    reply = httpx2.post(
        emulator.base_url + "/v1/chat/completions",
        headers={"authorization": "Bearer k", "x-streamproof-fault": "mid_stream_error"},
        json={"model": "gpt-4o-mini", "messages": []},  # not streamed: a JSON answer
    )
    assert reply.status_code == 400 and "needs a streamed (SSE) response" in reply.json()["error"]["message"]
    bad_spec = httpx2.post(
        emulator.base_url + "/v1/messages",
        headers={"x-api-key": "k", "x-streamproof-fault": "meteor"},
        json={"model": "claude-sonnet-4-6", "max_tokens": 5},
    )
    assert (
        bad_spec.status_code == 400 and "unknown fault kind 'meteor'" in bad_spec.json()["error"]["message"]
    )


@settings(max_examples=150, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=12),
    after=st.integers(min_value=0, max_value=40),
    kind=st.sampled_from(["mid_stream_error", "cut_events", "cut_bytes", "malformed_chunk", "stall"]),
)
def test_faults_keep_the_prefix_and_the_clock_under_any_chunking(
    cuts: list[int], after: int, kind: str
) -> None:
    """Whatever the recorded chunking, a fault keeps the body's prefix, every kept byte's time, and
    monotonic chunk times; the only error it raises is FaultError."""
    body = b"".join(f'event: e\ndata: {{"type":"e","sequence_number":{i}}}\n\n'.encode() for i in range(30))
    ends = sorted({min(c, len(body)) for c in cuts} | {len(body)})
    chunks, start = [], 0
    for n, end in enumerate(ends):
        chunks.append(ServedChunk(body[start:end], 0.01 * n))
        start = end
    served = ServedResponse(200, (("content-type", "text/event-stream"),), tuple(c for c in chunks if c.data))
    try:
        faulty = apply_fault(served, Fault(kind, after=after), api="responses")
    except FaultError as exc:
        assert "the stream has only 30" in str(exc) and after >= 30
        return
    times = [c.at for c in faulty.chunks]
    assert times == sorted(times)
    kept = b"".join(at_events(body)[:after]) if kind != "cut_bytes" else body[:after]
    assert faulty.body.startswith(kept)
    if kind == "stall":
        assert faulty.body == body
    assert all(c.data for c in faulty.chunks)
    arrival = [at for c in served.chunks for at in [c.at] * len(c.data)]  # original time of each byte
    pos = 0
    for chunk in faulty.chunks:
        if pos + len(chunk.data) <= len(kept):
            assert chunk.at == arrival[pos + len(chunk.data) - 1], "a kept byte changed its time"
        pos += len(chunk.data)
