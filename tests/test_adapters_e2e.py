"""Both adapters end to end: the real ``openai`` / ``anthropic`` SDKs over a real loopback HTTP server
that serves real recorded provider bytes (../shared/real-cassettes, read at test time), one flush per
SSE event. Each result must equal ``streamproof replay``'s outcome for the same interaction."""

from __future__ import annotations

import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from loopback import LoopbackServer

from streamproof.adapters.adapter import LLMRequestAdapter, LLMStreamAdapter
from streamproof.adapters.clients import ProviderClient
from streamproof.adapters.events import LLMResult, ReasoningDelta, StopReason, TextDelta, ToolCallDelta
from streamproof.adapters.formats.anthropic_messages import AnthropicClient
from streamproof.adapters.formats.openai_chat import OpenAIClient
from streamproof.adapters.llm_config import LLMConfig
from streamproof.harness.cassette import Interaction, load_cassette
from streamproof.harness.outcome import replay_interaction
from streamproof.harness.served import ServedChunk, served_from_interaction

# the SDK warns about the (real, since retired) models named in the recorded requests
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes" / "pydantic-ai"
API_KEY = "sk-loopback-test"


class Case(NamedTuple):
    cassette: str
    index: int
    provider: str
    shows: str
    text: bool = False  # the result has assistant text
    tool_calls: int = 0  # client tool calls in the result
    reasoning: bool = False  # visible reasoning text
    signed: bool = False  # a reasoning block carries a signature
    hidden: int = 0  # redacted reasoning blocks


STREAMED = [
    Case("test_prefect/test_prefect_agent_run_stream_events.yaml", 0, "openai", "chat text", text=True),
    Case("test_temporal/test_complex_agent_run_in_workflow.yaml", 0, "openai", "chat parallel tool calls", tool_calls=2),
    Case("test_temporal/test_complex_agent_run_in_workflow.yaml", 1, "openai", "chat tool call", tool_calls=1),
    Case("test_deepseek/test_deepseek_model_thinking_stream.yaml", 0, "deepseek", "chat reasoning (DeepSeek)", text=True, reasoning=True),
    Case("test_openai_responses/test_openai_responses_stream.yaml", 0, "openai", "responses tool call", tool_calls=1),
    Case("test_openai_responses/test_openai_responses_stream.yaml", 1, "openai", "responses text", text=True),
    Case("test_openai_responses/test_openai_responses_thinking_part_iter.yaml", 0, "openai", "responses reasoning with signature", text=True, reasoning=True, signed=True),
    Case("test_openai_responses/test_openai_responses_phase_streamed_on_part_start.yaml", 0, "openai", "responses reasoning, text and tool call", text=True, tool_calls=1, signed=True),
    Case("test_anthropic/test_request_stream_fallback_for_high_max_tokens.yaml", 0, "anthropic", "messages text", text=True),
    Case("test_anthropic/test_anthropic_model_thinking_part_stream.yaml", 0, "anthropic", "thinking with signature", text=True, reasoning=True, signed=True),
    Case("test_anthropic/test_anthropic_model_thinking_part_redacted_stream.yaml", 0, "anthropic", "redacted thinking", text=True, hidden=2),
    Case("test_tool_search/test_anthropic_native_tool_search_streaming.yaml", 0, "anthropic", "messages tool call", text=True, tool_calls=1),
]  # fmt: skip

# no parallel tool calls were recorded streamed for Responses or Anthropic: the non-streamed ones stand in
NOT_STREAMED = [
    Case("test_dbos/test_dbos_agent_with_hitl_tool.yaml", 0, "openai", "chat parallel tool calls", tool_calls=2),
    Case("test_openai/test_max_completion_tokens[o3-mini].yaml", 0, "openai", "chat reasoning model", text=True),
    Case("test_openai_responses/test_openai_responses_model_web_search_tool_stream.yaml", 1, "openai", "responses text with reasoning", text=True, signed=True),
    Case("test_anthropic/test_multiple_parallel_tool_calls.yaml", 0, "anthropic", "4 parallel tool calls", text=True, tool_calls=4),
    Case("test_anthropic/test_anthropic_model_thinking_part.yaml", 0, "anthropic", "thinking with signature", text=True, reasoning=True, signed=True),
]  # fmt: skip


def _shows(result: LLMResult, case: Case) -> None:
    """The result has what the case is chosen for (equality with replay alone would pass on empty)."""
    assert bool(result.text) is case.text
    assert len(result.tool_calls) == case.tool_calls
    assert all(call.id and call.name for call in result.tool_calls)
    assert len({call.id for call in result.tool_calls}) == case.tool_calls
    assert bool(result.reasoning_text) is case.reasoning
    assert any(block.signature for block in result.reasoning) is case.signed
    assert len(result.hidden_reasoning) == case.hidden


def _interaction(name: str, index: int) -> Interaction:
    if not REAL.is_dir():
        pytest.skip("../shared/real-cassettes is not present")
    return load_cassette(REAL / name).interactions[index]


@pytest.fixture(scope="module")
def server() -> Any:
    with LoopbackServer() as running:
        yield running


def _client(provider: str, root_url: str) -> ProviderClient:
    if provider == "anthropic":
        return AnthropicClient(api_key=API_KEY, base_url=root_url, max_retries=0)
    return OpenAIClient(api_key=API_KEY, base_url=f"{root_url}/v1", max_retries=0)


def _request_data(interaction: Interaction) -> dict[str, Any]:
    data = interaction.request.json()
    assert isinstance(data, dict)
    return data


def _expected(interaction: Interaction) -> dict[str, object]:
    outcome = replay_interaction(interaction)
    assert outcome.error is None and outcome.result is not None
    expected: dict[str, object] = outcome.result.contract_dict()
    return expected


def _check_request_sent(
    server: LoopbackServer, root_url: str, interaction: Interaction, streamed: bool
) -> None:
    (received,) = server.received(root_url)
    assert received.path.endswith(interaction.request.path)  # e.g. /v1/chat/completions
    sent = orjson.loads(received.body)
    recorded = _request_data(interaction)
    assert sent["model"] == recorded["model"]
    assert sent.get("stream", False) is streamed
    assert API_KEY in (received.headers.get("authorization", "") + received.headers.get("x-api-key", ""))


@pytest.mark.parametrize("case", STREAMED, ids=[case.shows for case in STREAMED])
async def test_stream_adapter_over_real_sdk_and_socket_matches_replay(
    server: LoopbackServer, case: Case
) -> None:
    interaction = _interaction(case.cassette, case.index)
    provider = case.provider
    served = served_from_interaction(interaction, recorded_timing=False)
    assert len(served.chunks) > 2  # one flush per SSE event: the client sees a live-shaped stream
    root_url = server.serve(served)
    client = _client(provider, root_url)
    adapter = LLMStreamAdapter(client, LLMConfig(model="recorded", provider=provider), "agent_step")
    try:
        events = [event async for event in adapter.invoke_llm(_request_data(interaction))]
    finally:
        await client.aclose()

    assert adapter.result is not None
    assert adapter.result.contract_dict() == _expected(interaction)
    _shows(adapter.result, case)
    _check_request_sent(server, root_url, interaction, streamed=True)
    # the events carry the whole result, and the adapter holds what Letta's holds
    result = adapter.result
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == result.text
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == result.reasoning_text
    assert [e for e in events if isinstance(e, StopReason)][-1].reason == result.stop_reason
    assert {e.message_id for e in events} == {result.message_id} == {adapter.message_id}
    assert adapter.tool_calls == result.tool_calls
    assert adapter.tool_call == (result.tool_calls[0] if result.tool_calls else None)
    assert adapter.usage == result.usage and adapter.usage.step_count == 1
    assert adapter.finish_reason == result.stop_reason
    assert adapter.llm_request_finish_timestamp_ns is not None
    assert (
        result.latency_ms is not None
        and result.ttft_ms is not None
        and 0 < result.ttft_ms <= result.latency_ms
    )


async def test_signature_arrives_as_its_own_event_before_the_block_ends(server: LoopbackServer) -> None:
    interaction = _interaction("test_anthropic/test_anthropic_model_thinking_part_stream.yaml", 0)
    root_url = server.serve(served_from_interaction(interaction, recorded_timing=False))
    client = _client("anthropic", root_url)
    adapter = LLMStreamAdapter(client, LLMConfig(model="recorded", provider="anthropic"), "agent_step")
    try:
        events = [event async for event in adapter.invoke_llm(_request_data(interaction))]
    finally:
        await client.aclose()
    signed = [i for i, e in enumerate(events) if isinstance(e, ReasoningDelta) and e.signature]
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert len(signed) == 1 and signed[0] < first_text
    assert adapter.result is not None and adapter.result.reasoning[0].signature == events[signed[0]].signature


@pytest.mark.parametrize("case", NOT_STREAMED, ids=[case.shows for case in NOT_STREAMED])
async def test_request_adapter_over_real_sdk_and_socket_matches_replay(
    server: LoopbackServer, case: Case
) -> None:
    interaction = _interaction(case.cassette, case.index)
    provider = case.provider
    root_url = server.serve(served_from_interaction(interaction, recorded_timing=False))
    client = _client(provider, root_url)
    adapter = LLMRequestAdapter(client, LLMConfig(model="recorded", provider=provider), "agent_step")
    try:
        events = [event async for event in adapter.invoke_llm(_request_data(interaction))]
    finally:
        await client.aclose()

    assert not adapter.supports_token_streaming()
    assert adapter.result is not None
    assert adapter.result.contract_dict() == _expected(interaction)
    _shows(adapter.result, case)
    _check_request_sent(server, root_url, interaction, streamed=False)
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        (c.id, c.name, c.arguments) for c in adapter.result.tool_calls
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == adapter.result.text


async def test_stream_adapter_sends_stream_flag_and_usage_request_without_touching_the_callers_dict(
    server: LoopbackServer,
) -> None:
    interaction = _interaction("test_prefect/test_prefect_agent_run_stream_events.yaml", 0)
    root_url = server.serve(served_from_interaction(interaction, recorded_timing=False))
    client = _client("openai", root_url)
    request_data = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "top_k": 5}
    original = orjson.dumps(request_data)
    adapter = LLMStreamAdapter(client, LLMConfig(model="gpt-4o"), "agent_step")
    try:
        await adapter.complete(request_data)
    finally:
        await client.aclose()
    sent = orjson.loads(server.received(root_url)[0].body)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["top_k"] == 5  # a field the SDK does not know still reaches an OpenAI-compatible server
    assert orjson.dumps(request_data) == original


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("test_prefect/test_prefect_agent_run_stream_events.yaml", "openai"),
        ("test_anthropic/test_anthropic_model_thinking_part_stream.yaml", "anthropic"),
    ],
)
async def test_events_arrive_while_the_server_is_still_sending(
    server: LoopbackServer, name: str, provider: str
) -> None:
    interaction = _interaction(name, 0)
    served = served_from_interaction(interaction, recorded_timing=False)
    step = 0.3 / len(served.chunks)  # the body trickles out over 300 ms
    paced = replace(
        served, chunks=tuple(ServedChunk(c.data, at=n * step) for n, c in enumerate(served.chunks))
    )
    root_url = server.serve(paced)
    client = _client(provider, root_url)
    adapter = LLMStreamAdapter(client, LLMConfig(model="recorded", provider=provider), "agent_step")
    try:
        await adapter.complete(_request_data(interaction))
    finally:
        await client.aclose()
    result = adapter.result
    assert result is not None and result.ttft_ms is not None and result.latency_ms is not None
    assert result.latency_ms >= 250  # the whole stream took as long as the server took to send it
    assert 0 < result.ttft_ms < result.latency_ms / 2  # the first event did not wait for the last byte


async def test_gzip_on_the_wire_is_decoded_before_the_interface(server: LoopbackServer) -> None:
    # real Anthropic SSE arrives gzip-compressed (REAL-STREAMS.md §3.18)
    interaction = _interaction("test_anthropic/test_anthropic_model_thinking_part_stream.yaml", 0)
    served = served_from_interaction(interaction, recorded_timing=False)
    compressor = zlib.compressobj(wbits=31)  # gzip framing, flushed per event as a live server would
    chunks = tuple(
        ServedChunk(compressor.compress(c.data) + compressor.flush(zlib.Z_SYNC_FLUSH)) for c in served.chunks
    )
    gzipped = replace(
        served,
        headers=(*served.headers, ("content-encoding", "gzip")),
        chunks=(*chunks, ServedChunk(compressor.flush())),
    )
    root_url = server.serve(gzipped)
    client = _client("anthropic", root_url)
    adapter = LLMStreamAdapter(client, LLMConfig(model="recorded", provider="anthropic"), "agent_step")
    try:
        result = await adapter.complete(_request_data(interaction))
    finally:
        await client.aclose()
    assert result.contract_dict() == _expected(interaction)
