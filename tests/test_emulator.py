"""The provider emulator: its wire grammar against real captures, and its behaviour over real sockets."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.cli.record import Job, record
from streamproof.harness.cassette import load_cassette
from streamproof.harness.emulator import EMULATOR_HEADER, Emulator
from streamproof.harness.formats import format_for
from streamproof.harness.scenarios import (
    CATALOGUE,
    Refusal,
    Reply,
    ScenarioError,
    Text,
    ToolUse,
    catalogue_pairs,
    model_for,
    scenario,
)
from streamproof.harness.wire import WireContext

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes"

# Event types the developer set never shows (MANIFEST: "Not covered"); their shapes follow the API reference.
DOCUMENTED_ONLY = {
    "response.refusal.delta": {
        "type",
        "sequence_number",
        "item_id",
        "output_index",
        "content_index",
        "delta",
    },
    "response.refusal.done": {
        "type",
        "sequence_number",
        "item_id",
        "output_index",
        "content_index",
        "refusal",
    },
    "response.incomplete": {"type", "sequence_number", "response"},
    "response.content_part.added.part/refusal": {"type", "refusal"},
    "response.content_part.done.part/refusal": {"type", "refusal"},
}


# --- grammar: what a stream looks like, reduced to event kinds and field sets ------------------------


def sse_events(body: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    return [(event, data) for event, data, _ in decoder.feed(body) + decoder.close()]


def kind_of(api: str, event: str | None, data: Any) -> str:
    if api == "chat":
        if not isinstance(data, dict):
            return "[DONE]"
        return "chunk" if data.get("choices") else "chunk(empty choices)"
    kind = str(data.get("type"))
    if kind == "content_block_delta":
        return f"content_block_delta/{data['delta']['type']}"
    if kind == "content_block_start":
        return f"content_block_start/{data['content_block']['type']}"
    return kind


def parsed(body: bytes) -> list[tuple[str | None, Any]]:
    return [(event, "[DONE]" if data == "[DONE]" else json.loads(data)) for event, data in sse_events(body)]


def field_sets(api: str, events: list[tuple[str | None, Any]]) -> Iterator[tuple[str, frozenset[str]]]:
    """(where, keys) for every object whose shape matters: events, choices, deltas, blocks, usage."""
    for event, data in events:
        if not isinstance(data, dict):
            continue
        kind = kind_of(api, event, data)
        yield kind, frozenset(data)
        if api == "chat":
            for choice in data.get("choices") or []:
                yield "choice", frozenset(choice)
                yield "choice.delta", frozenset(choice["delta"])
                for call in choice["delta"].get("tool_calls") or []:
                    yield "tool_call delta", frozenset(call)
            if data.get("usage"):
                yield "chat usage", frozenset(data["usage"])
                yield "chat usage.prompt_tokens_details", frozenset(data["usage"]["prompt_tokens_details"])
                yield (
                    "chat usage.completion_tokens_details",
                    frozenset(data["usage"]["completion_tokens_details"]),
                )
        elif api == "messages":
            if kind == "message_start":
                yield "message_start.message", frozenset(data["message"])
                yield "message_start.message.usage", frozenset(data["message"]["usage"])
            if kind.startswith("content_block_start/"):
                yield f"{kind}.content_block", frozenset(data["content_block"])
            if kind.startswith("content_block_delta/"):
                yield f"{kind}.delta", frozenset(data["delta"])
            if kind == "message_delta":
                yield "message_delta.delta", frozenset(data["delta"])
                yield "message_delta.usage", frozenset(data["usage"])
        else:
            if "item" in data:
                yield f"{kind}.item/{data['item']['type']}", frozenset(data["item"])
            if "part" in data:
                yield f"{kind}.part/{data['part']['type']}", frozenset(data["part"])
            if kind in ("response.created", "response.in_progress", "response.completed"):
                yield "response object", frozenset(data["response"])
            if kind == "response.completed":
                usage = data["response"]["usage"]
                yield "responses usage", frozenset(usage)
                yield "responses usage.input_tokens_details", frozenset(usage["input_tokens_details"])
                yield "responses usage.output_tokens_details", frozenset(usage["output_tokens_details"])


def real_streams() -> dict[str, list[bytes]]:
    if not REAL.is_dir():
        pytest.skip(f"real captures not present at {REAL}")
    return _real_streams()


@functools.cache
def _real_streams() -> dict[str, list[bytes]]:
    bodies: dict[str, list[bytes]] = defaultdict(list)
    for path in sorted(REAL.rglob("*.yaml")):
        for interaction in load_cassette(path).interactions:
            response = interaction.response
            if response.status == 200 and response.is_sse and interaction.provider in ("openai", "anthropic"):
                if interaction.api == "responses" and b"event: " not in response.body:
                    continue  # OpenRouter's Responses dialect (no event lines), not OpenAI's
                bodies[interaction.api].append(response.body)
    return bodies


def emulated_streams(api: str) -> list[bytes]:
    bodies = []
    for scenario_api, name in catalogue_pairs():
        answer = CATALOGUE[name].answer
        if scenario_api == api and isinstance(answer, Reply):
            request = CATALOGUE[name].request(api)
            ctx = WireContext(api, request["model"], request, random.Random(7))
            bodies.append(b"".join(format_for(api).render_events(answer, ctx)))
    return bodies


# --- order constraints, checked on the real captures first so they are known to be true ----------


def chat_order(events: list[tuple[str | None, Any]]) -> None:
    datas = [d for _, d in events]
    assert datas[-1] == "[DONE]"
    chunks = [d for d in datas[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert "role" in chunks[0]["choices"][0]["delta"]
    finish = [i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(finish) == 1
    after = chunks[finish[0] + 1 :]
    assert all(not c["choices"] for c in after)  # only usage / moderation chunks follow the finish
    if after:
        assert after[0]["usage"]["total_tokens"] > 0


def responses_order(events: list[tuple[str | None, Any]]) -> None:
    datas = [d for _, d in events]
    for event, data in events:
        assert event == data["type"]
    numbers = [d["sequence_number"] for d in datas if "sequence_number" in d]
    assert numbers == sorted(set(numbers))
    assert datas[-1]["type"] in ("response.completed", "response.incomplete", "response.failed")
    added: set[str] = set()
    for data in datas:
        if data["type"] == "response.output_item.added":
            added.add(data["item"]["id"])
        elif "item_id" in data:
            assert data["item_id"] in added, f"{data['type']} before its item was added"


def messages_order(events: list[tuple[str | None, Any]]) -> None:
    datas = [d for _, d in events]
    for event, data in events:
        assert event == data["type"]
    assert datas[0]["type"] == "message_start"
    assert [d["type"] for d in datas[-2:]] == ["message_delta", "message_stop"]
    open_blocks: dict[int, str] = {}
    last_delta: dict[int, str] = {}
    for data in datas[1:-2]:
        kind = data["type"]
        if kind == "content_block_start":
            open_blocks[data["index"]] = data["content_block"]["type"]
        elif kind == "content_block_delta":
            assert data["index"] in open_blocks
            last_delta[data["index"]] = data["delta"]["type"]
        elif kind == "content_block_stop":
            block = open_blocks.pop(data["index"])
            if block == "thinking":
                assert last_delta[data["index"]] == "signature_delta"
        else:
            assert kind == "ping"
    assert not open_blocks


ORDER = {"chat": chat_order, "responses": responses_order, "messages": messages_order}


@pytest.mark.parametrize("api", ["chat", "responses", "messages"])
def test_emulator_grammar_matches_real_captures(api: str) -> None:
    real = real_streams()[api]
    assert len(real) >= 10, f"expected real {api} captures, found {len(real)}"
    union: dict[str, set[str]] = defaultdict(set)
    common: dict[str, frozenset[str]] = {}
    for body in real:
        events = parsed(body)
        ORDER[api](events)
        for where, keys in field_sets(api, events):
            union[where] |= keys
            common[where] = common[where] & keys if where in common else keys
    emulated_kinds: set[str] = set()
    for body in emulated_streams(api):
        events = parsed(body)
        ORDER[api](events)
        for where, keys in field_sets(api, events):
            emulated_kinds.add(where)
            if where in DOCUMENTED_ONLY:
                assert keys == DOCUMENTED_ONLY[where], where
                continue
            assert where in union, f"the emulator sends {where!r}, which no real {api} capture has"
            assert keys <= union[where], f"{where}: fields no real capture has: {sorted(keys - union[where])}"
            assert keys >= common[where], (
                f"{where}: missing fields every capture has: {sorted(common[where] - keys)}"
            )
    core = {
        "chat": {"chunk", "chunk(empty choices)", "[DONE]"} - {"[DONE]"},
        "responses": {
            "response.created",
            "response.output_text.delta",
            "response.function_call_arguments.delta",
        },
        "messages": {
            "message_start",
            "content_block_delta/signature_delta",
            "content_block_start/redacted_thinking",
        },
    }[api]
    assert core <= emulated_kinds


def test_grammar_check_catches_a_wrong_field() -> None:
    real = real_streams()["chat"]
    union: dict[str, set[str]] = defaultdict(set)
    for body in real:
        for where, keys in field_sets("chat", parsed(body)):
            union[where] |= keys
    bad = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"text":"hi"}}],"tokens":1}\n\n'
    offenders = [where for where, keys in field_sets("chat", parsed(bad)) if not keys <= union[where]]
    assert "chunk" in offenders


# --- over real sockets, through the real SDKs -----------------------------------------------------


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@functools.cache
def clients(emulator: Emulator) -> tuple[openai.OpenAI, anthropic.Anthropic]:
    """One pair per emulator (building an SDK client costs ~20 ms: its SSL context). Strict
    validation: every event and body must fit the SDKs' own pydantic models."""
    return (
        openai.OpenAI(
            base_url=emulator.openai_base_url,
            api_key="dummy",
            max_retries=0,
            _strict_response_validation=True,
        ),
        anthropic.Anthropic(
            base_url=emulator.anthropic_base_url,
            api_key="dummy",
            max_retries=0,
            _strict_response_validation=True,
        ),
    )


def call(emulator: Emulator, api: str, name: str, **extra: Any) -> Any:
    oa, an = clients(emulator)
    kwargs = CATALOGUE[name].request(api, model_for(api, name))
    kwargs.update(extra)
    headers = {"x-streamproof-scenario": name}
    if api == "chat":
        return oa.chat.completions.create(**kwargs, extra_headers=headers)
    if api == "responses":
        return oa.responses.create(**kwargs, extra_headers=headers)
    return an.messages.create(**kwargs, extra_headers=headers)


def collect(api: str, stream: Any) -> tuple[str, list[tuple[str, str]], str | None]:
    """(text, [(tool name, arguments)], stop) as the SDK's own events tell it."""
    text, stop = "", None
    names: dict[int, str] = {}
    args: dict[int, str] = defaultdict(str)
    for event in stream:
        if api == "chat":
            for choice in event.choices:
                text += choice.delta.content or ""
                for call_delta in choice.delta.tool_calls or []:
                    if call_delta.function.name:
                        names[call_delta.index] = call_delta.function.name
                    args[call_delta.index] += call_delta.function.arguments or ""
                stop = choice.finish_reason or stop
        elif api == "responses":
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.output_item.done" and event.item.type == "function_call":
                names[len(names)] = event.item.name
                args[len(args)] = event.item.arguments
            elif event.type in ("response.completed", "response.incomplete"):
                stop = event.response.status
        else:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                names[event.index] = event.content_block.name
            elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                args[event.index] += event.delta.partial_json
            elif event.type == "message_delta":
                stop = event.delta.stop_reason
    # Anthropic: no argument deltas means the input placeholder ``{}`` stands
    return text, [(names[i], args[i] or "{}") for i in sorted(names)], stop


@pytest.mark.parametrize(
    ("api", "name"), [p for p in catalogue_pairs() if isinstance(CATALOGUE[p[1]].answer, Reply)]
)
def test_every_scenario_streams_through_the_real_sdk(emulator: Emulator, api: str, name: str) -> None:
    answer = CATALOGUE[name].answer
    assert isinstance(answer, Reply)
    text, calls, stop = collect(api, call(emulator, api, name))
    spoken = (Text, Refusal) if api == "messages" else (Text,)  # Anthropic refuses in a text block
    assert text == "".join(b.text for b in answer.blocks if isinstance(b, spoken))
    assert calls == [(b.name, b.arguments) for b in answer.blocks if isinstance(b, ToolUse)]
    expected_stop = {
        "chat": {"end": "stop", "tool_use": "tool_calls", "max_tokens": "length", "refusal": "stop"},
        "responses": {"max_tokens": "incomplete"},
        "messages": {
            "end": "end_turn",
            "tool_use": "tool_use",
            "max_tokens": "max_tokens",
            "refusal": "refusal",
        },
    }[api].get(answer.stop, "completed")
    assert stop == expected_stop
    whole = call(emulator, api, name, stream=False, **({"stream_options": None} if api == "chat" else {}))
    assert whole.usage is not None  # the JSON answer passed the SDK's strict validation too


def test_error_scenarios_raise_the_sdk_status_errors(emulator: Emulator) -> None:
    expected = {
        ("chat", "bad_key"): openai.AuthenticationError,
        ("chat", "unknown_model"): openai.NotFoundError,
        ("chat", "context_overflow"): openai.BadRequestError,
        ("responses", "bad_key"): openai.AuthenticationError,
        ("responses", "unknown_model"): openai.BadRequestError,  # what live Responses answers
        ("responses", "context_overflow"): openai.BadRequestError,
        ("messages", "bad_key"): anthropic.AuthenticationError,
        ("messages", "unknown_model"): anthropic.NotFoundError,
        ("messages", "context_overflow"): anthropic.BadRequestError,
    }
    for (api, name), error in expected.items():
        with pytest.raises(error) as caught:
            call(emulator, api, name)
        body = caught.value.body
        assert isinstance(body, dict)
        if name == "context_overflow":
            assert "context_length_exceeded" in json.dumps(body) or "prompt is too long" in json.dumps(body)


def test_non_streamed_json_answers(emulator: Emulator) -> None:
    oa, an = clients(emulator)
    headers = {"x-streamproof-scenario": "tool_call"}
    chat = CATALOGUE["tool_call"].request("chat")
    chat.pop("stream"), chat.pop("stream_options")
    completion = oa.chat.completions.create(**chat, extra_headers=headers)
    assert completion.choices[0].message.tool_calls[0].function.arguments == '{"city":"Paris"}'
    assert completion.usage is not None and completion.usage.total_tokens == 80
    messages = CATALOGUE["reasoning"].request("messages")
    messages.pop("stream")
    message = an.messages.create(**messages, extra_headers={"x-streamproof-scenario": "reasoning"})
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].signature
    responses = CATALOGUE["max_tokens"].request("responses")
    responses.pop("stream")
    response = oa.responses.create(**responses, extra_headers={"x-streamproof-scenario": "max_tokens"})
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"


def test_scenario_from_model_name_and_identity(emulator: Emulator) -> None:
    oa, _ = clients(emulator)
    stream = oa.chat.completions.create(
        model="streamproof-tool_call_no_args", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert collect("chat", stream)[1] == [("ping_server", "{}")]
    identity = httpx2.get(emulator.base_url + "/streamproof/identity").json()
    assert identity["emulator"] == "streamproof" and "reasoning" in identity["scenarios"]
    raw = oa.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert raw.headers[EMULATOR_HEADER]


def test_emulator_rejects_what_the_real_services_reject(emulator: Emulator) -> None:
    url = emulator.base_url
    no_key = httpx2.post(url + "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "invalid_api_key"
    no_max = httpx2.post(
        url + "/v1/messages", headers={"x-api-key": "k"}, json={"model": "claude-sonnet-4-6"}
    )
    assert no_max.status_code == 400 and "max_tokens" in no_max.json()["error"]["message"]
    unknown = httpx2.post(
        url + "/v1/responses",
        headers={"authorization": "Bearer k", "x-streamproof-scenario": "juggling"},
        json={"model": "gpt-5-mini", "input": "x"},
    )
    assert unknown.status_code == 400 and "juggling" in unknown.json()["error"]["message"]
    skipped = httpx2.post(
        url + "/v1/chat/completions",
        headers={"authorization": "Bearer k", "x-streamproof-scenario": "redacted_thinking"},
        json={"model": "gpt-4o-mini", "messages": []},
    )
    assert skipped.status_code == 400 and "never streams reasoning" in skipped.json()["error"]["message"]
    nowhere = httpx2.post(url + "/v2/embeddings", headers={"authorization": "Bearer k"}, json={})
    assert nowhere.status_code == 404 and "no route" in nowhere.json()["error"]["message"]


def test_chunked_one_flush_per_event_with_delays() -> None:
    """The first event reaches the client while the emulator is still sending the rest."""
    with Emulator(event_delay=0.03) as emulator:
        oa, _ = clients(emulator)
        started = time.monotonic()
        arrivals = []
        with oa.chat.completions.with_streaming_response.create(
            **CATALOGUE["text"].request("chat"), extra_headers={"x-streamproof-scenario": "text"}
        ) as response:
            assert response.headers["transfer-encoding"] == "chunked"
            for chunk in response.iter_bytes():
                arrivals.append((time.monotonic() - started, chunk))
    answer = CATALOGUE["text"].answer
    assert isinstance(answer, Reply)
    events = len(
        format_for("chat").render_events(answer, WireContext("chat", "m", {"stream_options": {"include_usage": True}}))
    )
    assert len(arrivals) >= events - 2  # one chunk per event, give or take a coalesced pair
    assert arrivals[-1][0] - arrivals[0][0] >= 0.03 * (events - 2)
    assert arrivals[0][0] < arrivals[-1][0] / 2


def test_tcp_nodelay_and_keep_alive(emulator: Emulator) -> None:
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        for _ in range(2):  # two requests on one connection
            sock.sendall(b"GET /streamproof/identity HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while b"}" not in reply:
                reply += sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200")


def test_serves_a_cassette_with_its_recorded_chunks_and_timing(tmp_path: Path) -> None:
    body = "".join(f'data: {{"n":{i}}}\n\n' for i in range(4)) + "data: [DONE]\n\n"
    ends, offset = [], 0
    for i, piece in enumerate(body.split("\n\n")[:-1]):
        offset += len(piece) + 2
        ends.append([offset, round(0.05 * i, 3)])
    cassette = {
        "version": 1,
        "streamproof": {"scenario": "counting", "source": "emulator"},
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                    "headers": {},
                    "body": '{"model":"m"}',
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-type": ["text/event-stream"], "content-length": ["999"]},
                    "body": {"string": body},
                    "streamproof_chunks": ends,
                },
            }
        ],
    }
    (tmp_path / "counting.yaml").write_text(json.dumps(cassette))  # JSON is YAML
    with Emulator(cassettes=tmp_path) as emulator:
        started = time.monotonic()
        seen = []
        with httpx2.stream(
            "POST",
            emulator.base_url + "/v1/chat/completions",
            headers={"authorization": "Bearer k", "x-streamproof-scenario": "counting"},
            json={"model": "m"},
        ) as response:
            assert "content-length" not in response.headers
            for chunk in response.iter_bytes():
                seen.append((time.monotonic() - started, chunk))
        assert b"".join(c for _, c in seen) == body.encode()
        assert len(seen) == 5
        assert seen[-1][0] >= 0.19  # the last chunk was recorded at 0.2 s
        miss = httpx2.post(
            emulator.base_url + "/v1/chat/completions",
            headers={"authorization": "Bearer k"},
            json={"model": "other"},
        )
        assert miss.status_code == 400 and "counting" in miss.json()["error"]["message"]


async def test_many_concurrent_async_streams(emulator: Emulator) -> None:
    oa = openai.AsyncOpenAI(base_url=emulator.openai_base_url, api_key="dummy", max_retries=0)
    an = anthropic.AsyncAnthropic(base_url=emulator.anthropic_base_url, api_key="dummy", max_retries=0)

    async def one(i: int) -> str:
        api = ("chat", "responses", "messages")[i % 3]
        kwargs = CATALOGUE["text"].request(api)
        if api == "messages":
            stream: Any = await an.messages.create(**kwargs)
        elif api == "responses":
            stream = await oa.responses.create(**kwargs)
        else:
            stream = await oa.chat.completions.create(**kwargs)
        return api if len([event async for event in stream]) > 10 else "short"

    results = await asyncio.gather(*(one(i) for i in range(30)))
    assert sorted(results) == sorted(["chat", "responses", "messages"] * 10)
    await oa.close()
    await an.close()


def test_error_bodies_have_the_real_shapes() -> None:
    """Every error body the emulator and the faults send has the key sets of the real error bodies."""
    if not REAL.is_dir():
        pytest.skip(f"real captures not present at {REAL}")
    real_shapes: dict[str, set[tuple[frozenset[str], frozenset[str]]]] = defaultdict(set)
    for path in sorted(REAL.rglob("*.yaml")):
        for interaction in load_cassette(path).interactions:
            if interaction.response.status >= 400 and interaction.provider in ("openai", "anthropic"):
                body = json.loads(interaction.response.body)
                real_shapes[interaction.provider].add((frozenset(body), frozenset(body["error"])))
    assert real_shapes["openai"] and real_shapes["anthropic"]
    kinds = (
        "bad_key",
        "unknown_model",
        "context_overflow",
        "rate_limit",
        "server_error",
        "unavailable",
        "overloaded",
    )
    for api in ("chat", "responses", "messages"):
        provider = "anthropic" if api == "messages" else "openai"
        for kind in kinds:
            body = format_for(api).error_reply(kind, model="m", request_id="req_1").body
            assert (frozenset(body), frozenset(body["error"])) in real_shapes[provider], (api, kind)


def test_gzip_on_the_wire_streams_and_records_decoded(tmp_path: Path) -> None:
    with Emulator(gzip_sse=True, event_delay=0.01) as emulator:
        with httpx2.stream(
            "POST",
            emulator.base_url + "/v1/messages",
            headers={"x-api-key": "k", "accept-encoding": "gzip"},
            json={"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": True},
        ) as response:
            assert response.headers["content-encoding"] == "gzip"
            pieces = list(response.iter_bytes())  # httpx decodes each sync-flushed piece as it comes
        assert b"".join(pieces).startswith(b"event: message_start") and b"event: message_stop" in pieces[-1]
        assert len(pieces) >= 10
        text, _, stop = collect("messages", call(emulator, "messages", "text"))
        assert stop == "end_turn" and text.startswith("Hello")
        result = record(
            Job("anthropic", "messages", "text", "claude-sonnet-4-6"),
            tmp_path,
            emulator.base_url,
            "emulator",
            {"anthropic": "k"},
        )
    interaction = load_cassette(result.path).interactions[0]
    assert "content-encoding" not in interaction.response.headers
    assert interaction.response.body.startswith(b"event: message_start")
    assert interaction.response.chunks is not None and len(interaction.response.chunks) >= 10


def test_serves_the_real_captures_byte_for_byte() -> None:
    """Cassette mode finds each recorded request (by body, or by path for a bodiless resume GET)."""
    if not REAL.is_dir():
        pytest.skip(f"real captures not present at {REAL}")
    interactions = [
        interaction
        for path in sorted(REAL.rglob("*.yaml"))
        for interaction in load_cassette(path).interactions
        if interaction.api != "other"
    ]
    keys = [
        (i.request.method, i.request.uri.split("://", 1)[1].split("/", 1)[1], i.request.body)
        for i in interactions
    ]
    unique = [i for i, key in zip(interactions, keys, strict=True) if keys.count(key) == 1]
    assert len(unique) > 80
    with Emulator(cassettes=REAL, recorded_timing=False) as emulator, httpx2.Client() as client:
        for interaction in unique:
            target = "/" + interaction.request.uri.split("://", 1)[1].split("/", 1)[1]
            reply = client.request(
                interaction.request.method,
                emulator.base_url + target,
                content=interaction.request.body,
                headers={"authorization": "Bearer k", "content-type": "application/json"},
            )
            assert (reply.status_code, reply.content) == (
                interaction.response.status,
                interaction.response.body,
            ), target
            assert "content-length" not in reply.headers or "transfer-encoding" not in reply.headers


def test_event_delay_per_request_header(emulator: Emulator) -> None:
    started = time.monotonic()
    with httpx2.stream(
        "POST",
        emulator.base_url + "/v1/responses",
        headers={"authorization": "Bearer k", "x-streamproof-event-delay-ms": "25"},
        json={"model": "gpt-5-mini", "input": "hi", "stream": True},
    ) as response:
        arrivals = [time.monotonic() - started for _ in response.iter_bytes()]
    assert len(arrivals) >= 10
    assert arrivals[-1] - arrivals[0] >= 0.025 * (len(arrivals) - 2)


@pytest.mark.parametrize("body", [b"", b"[1, 2]", b"{not json", b"\xff\xfe\x00", b'"text"'])
def test_garbage_requests_get_a_400_in_the_providers_shape(emulator: Emulator, body: bytes) -> None:
    for path, shape in (
        ("/v1/chat/completions", {"error"}),
        ("/v1/messages", {"type", "error", "request_id"}),
    ):
        reply = httpx2.post(emulator.base_url + path, content=body, headers={"authorization": "Bearer k"})
        assert reply.status_code == 400
        assert set(reply.json()) == shape and "JSON body" in reply.json()["error"]["message"]
    wrong_method = httpx2.get(
        emulator.base_url + "/v1/chat/completions", headers={"authorization": "Bearer k"}
    )
    assert wrong_method.status_code == 404


def test_scenario_catalogue_requests() -> None:
    with pytest.raises(ScenarioError, match="never streams reasoning"):
        CATALOGUE["reasoning"].request("chat")
    with pytest.raises(ScenarioError, match="unknown scenario 'juggling'"):
        scenario("juggling")
    live = CATALOGUE["context_overflow"].request("messages", for_emulator=False)
    emulated = CATALOGUE["context_overflow"].request("messages")
    assert len(live["messages"][0]["content"]) > 4_000_000 > 100_000 > len(emulated["messages"][0]["content"])
    chat_tools = CATALOGUE["parallel_tool_calls"].request("chat")
    assert chat_tools["tool_choice"] == "required" and len(chat_tools["tools"]) == 2
    assert CATALOGUE["tool_call"].request("messages")["tool_choice"] == {"type": "any"}
    thinking = CATALOGUE["reasoning"].request("messages")
    assert thinking["thinking"]["budget_tokens"] < thinking["max_tokens"]
    assert model_for("responses", "unknown_model") == "gpt-does-not-exist"
    assert len(catalogue_pairs()) == 13 * 3 - 2
