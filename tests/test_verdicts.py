"""Verdicts only the adapter can earn: where the suite itself decided wrongly, on small synthetic cases.

Each test builds a case from a few events (no cassette file), runs the battery on an adapter that
is right (the reference stack, or an adapter that reads the recording another valid way) and, where
it matters, on one that is wrong, and checks the verdict each gets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
from synthetic_cases import URIS, index_less_tool_calls_case, make_case, sse

from streamproof.adapters.events import LLMResult
from streamproof.conformance.battery import Battery, Verdict, snapshot_data
from streamproof.conformance.protocol import Capabilities, ConformanceCall
from streamproof.conformance.reference import ReferenceAdapter


class Rewrites:
    """The reference stack with its events and result passed through ``change``: a library that reads
    the same recording in another (valid or invalid) way."""

    name = "rewrites"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    def __init__(self, change: Callable[[dict[str, Any]], Any]) -> None:
        self.change = change
        self.inner = ReferenceAdapter()

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        async for event in self.inner.stream(call):
            changed = self.change(event.model_dump(exclude={"message_id", "event_id"}))  # type: ignore[attr-defined]
            if changed is not None:  # None: the library sends no such event
                yield changed
        result = call.result
        assert isinstance(result, LLMResult)
        plain: dict[str, Any] = {
            "text": result.text,
            "reasoning": result.reasoning_text,
            "signatures": [b.signature for b in result.reasoning if b.signature],
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls],
            "usage": result.usage.public_dict(),
            "stop_reason": result.stop_reason,
            "provider_stop_reason": result.provider_stop_reason,
        }
        call.set_result(self.change(plain))


def replace_signature(old: str, new: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def change(data: dict[str, Any]) -> dict[str, Any]:
        if data.get("signature") == old:
            data = {**data, "signature": new}
        if "signatures" in data:
            data = {**data, "signatures": [new if s == old else s for s in data["signatures"]]}
        return data

    return change


# -- the Responses reasoning signature ------------------------------------------------------------


def signed_reasoning_body(done_copy: str, final_copy: str) -> bytes:
    item = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": done_copy}
    final_item = {**item, "encrypted_content": final_copy}
    message = {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "Hi"}]}
    return sse(
        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress", "model": "m-1"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**item, "encrypted_content": None},
        },
        {"type": "response.reasoning_summary_text.delta", "output_index": 0, "delta": "think"},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.output_item.added", "output_index": 1, "item": {**message, "content": []}},
        {"type": "response.output_text.delta", "output_index": 1, "delta": "Hi"},
        {"type": "response.output_item.done", "output_index": 1, "item": message},
        {
            "type": "response.completed",
            "response": {
                "id": "resp_1",
                "status": "completed",
                "model": "m-1",
                "output": [final_item, message],
                "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
            },
        },
    )


async def test_the_done_events_copy_is_the_responses_signature() -> None:
    case = make_case("responses", signed_reasoning_body("gAAAA-done", "gAAAA-final"))
    battery = Battery(ReferenceAdapter(), case)
    assert battery.expected.signatures == ["gAAAA-done"]
    verdict = await battery.run("outcome")
    assert verdict.status == "pass", verdict.message


async def test_the_completed_copy_of_a_signature_counts_as_the_same_signature() -> None:
    """A library that signs with the final response's copy (the SDKs' ``get_final_response``) is right."""
    case = make_case("responses", signed_reasoning_body("gAAAA-done", "gAAAA-final"))
    battery = Battery(Rewrites(replace_signature("gAAAA-done", "gAAAA-final")), case)
    outcome = await battery.run("outcome")
    assert outcome.status == "pass", outcome.message
    snapshot = await battery.run("snapshot")
    signed = [e["signature"] for e in snapshot_data(case, snapshot)["events"] if e.get("signature")]
    assert signed == ["gAAAA-done"]  # the snapshot shows the one signature, whichever copy was sent


async def test_a_signature_that_is_neither_copy_fails() -> None:
    case = make_case("responses", signed_reasoning_body("gAAAA-done", "gAAAA-final"))
    verdict = await Battery(Rewrites(replace_signature("gAAAA-done", "gAAAA-other")), case).run("outcome")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "outcome.signatures[0]"


# -- fault injection -------------------------------------------------------------------------------


def test_a_synthetic_response_failed_keeps_the_streams_own_response_id() -> None:
    """DeepSeek's and OpenRouter's Responses ids are not ``resp_...``: the failed response keeps it."""
    from streamproof.conformance.battery import faults_for
    from streamproof.harness.served import served_from_interaction

    response = {"id": "gen-1764-Zq8Yb", "status": "in_progress", "model": "m-1"}
    body = sse(
        {"type": "response.created", "sequence_number": 0, "response": response},
        *(
            {"type": "response.output_text.delta", "sequence_number": n, "output_index": 0, "delta": "x"}
            for n in range(1, 6)
        ),
        {"type": "response.completed", "sequence_number": 6, "response": {**response, "status": "completed"}},
    )
    case = make_case("responses", body)
    faults = {f.spec: f for f in faults_for(case, served_from_interaction(case.interaction))}
    failed_spec = next(spec for spec in faults if spec.startswith("mid_stream_error") and "style" not in spec)
    failed = [
        json.loads(line[5:])
        for line in faults[failed_spec].served.body.splitlines()
        if line.startswith(b"data:") and b"response.failed" in line
    ]
    assert [event["response"]["id"] for event in failed] == ["gen-1764-Zq8Yb"]


def test_a_cut_falls_after_the_first_data_event() -> None:
    """OpenRouter opens with SSE comments; a cut among them would look like a failed connection."""
    from streamproof.conformance.battery import faults_for
    from streamproof.harness.served import served_from_interaction

    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        return {"id": "gen-1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}

    comments = b": OPENROUTER PROCESSING\n\n" * 4
    body = comments + sse(chunk("a"), chunk("b"), chunk("c", "stop"), "[DONE]")
    case = make_case("chat", body)
    for fault in faults_for(case, served_from_interaction(case.interaction)):
        if fault.spec.startswith(("cut_events", "mid_stream_error", "malformed_chunk")):
            kept = fault.served.body[len(comments) :]
            assert kept.startswith(b'data: {"id": "gen-1"'), fault.spec


# -- interception ----------------------------------------------------------------------------------


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.parametrize("fault", ["abort", "stall"])
async def test_an_intercepted_client_gets_its_own_librarys_exceptions_with_the_request(
    library: str, fault: str
) -> None:
    import httpx
    import httpx2

    from streamproof.conformance.transport import CaseTransport, intercept_pools
    from streamproof.harness.served import ServedChunk, ServedResponse

    module = {"httpx": httpx, "httpx2": httpx2}[library]
    served = ServedResponse(
        status=200,
        headers=(("content-type", "text/event-stream"),),
        chunks=(ServedChunk(b"data: 1\n\n", 0.0),),
        abort=fault == "abort",
        stall_before_headers=1.0 if fault == "stall" else 0.0,
    )
    wanted = {"abort": "RemoteProtocolError", "stall": "ReadTimeout"}[fault]
    with intercept_pools(CaseTransport(served)):
        async with module.AsyncClient(timeout=0.05) as client:  # the client's own read timeout
            with pytest.raises(getattr(module, wanted)) as raised:
                async with client.stream("POST", URIS["chat"], json={}) as response:
                    async for _ in response.aiter_bytes():
                        pass
    assert type(raised.value).__module__.split(".")[0] == library
    assert str(raised.value.request.url) == URIS["chat"]


# -- the request check -----------------------------------------------------------------------------


class EditsRequest:
    """The reference stack, sending ``edit(recorded request)`` instead of the recorded request."""

    name = "edits-request"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    def __init__(self, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.edit = edit
        self.inner = ReferenceAdapter()

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        call.request = self.edit(json.loads(json.dumps(call.request)))
        async for event in self.inner.stream(call):
            yield event


TOOL_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city", "unit"],
}


def messages_text_body() -> bytes:
    return sse(
        {"type": "message_start", "message": {"id": "msg_1", "model": "m-1", "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    )


RECORDED_MESSAGES_REQUEST: dict[str, Any] = {
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}]},
        {"role": "user", "content": [{"type": "text", "text": "In Paris"}]},
    ],
    "max_tokens": 256,
    "tool_choice": {"type": "auto"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "tools": [{"name": "weather", "description": "Weather", "input_schema": TOOL_SCHEMA}],
}


def canonically_the_same(request: dict[str, Any]) -> dict[str, Any]:
    """What a library may send for the same request: required reordered, strict, nulls, a string
    for one-part content, ``type: custom`` and ``cache_control`` added."""
    tool = request["tools"][0]
    schema = {**tool["input_schema"], "required": ["unit", "city"], "additionalProperties": True}
    request["tools"] = [{**tool, "type": "custom", "input_schema": schema, "strict": None}]
    request["messages"][2]["content"] = "In Paris"
    request["system"] = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    return request


async def test_the_same_request_in_another_canonical_shape_passes_with_warnings_for_additions() -> None:
    case = make_case("messages", messages_text_body(), RECORDED_MESSAGES_REQUEST)
    verdict = await Battery(EditsRequest(canonically_the_same), case).run("request")
    assert verdict.status == "pass", verdict.message
    assert sorted(w.split(":")[0] for w in verdict.warnings) == [
        "request.system[0].cache_control",
        "request.tools.weather.type",
    ]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(request: dict[str, Any]) -> dict[str, Any]:
        target = request
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return request

    return edit


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (_set(("messages", 0, "role"), "assistant"), "request.messages[0].role"),
        (_set(("messages", 1), _DELETE), "request.messages (count)"),
        (_set(("messages", 2, "content"), "In Rome"), "request.messages[2].content[0].text"),
        (_set(("messages", 1, "content", 0, "signature"), _DELETE), "request.messages[1].content[0].signature"),
        (_set(("max_tokens",), 1024), "request.max_tokens"),
        (_set(("tool_choice",), {"type": "any"}), "request.tool_choice.type"),
        (_set(("thinking", "budget_tokens"), 2048), "request.thinking.budget_tokens"),
        (_set(("system",), "Be long."), "request.system[0].text"),
        (_set(("tools", 0, "input_schema", "required"), ["city"]), "request.tools.weather.parameters.required (count)"),
    ],
)  # fmt: skip
async def test_what_matters_in_a_request_is_checked(
    edit: Callable[[dict[str, Any]], dict[str, Any]], path: str
) -> None:
    case = make_case("messages", messages_text_body(), RECORDED_MESSAGES_REQUEST)
    verdict = await Battery(EditsRequest(edit), case).run("request")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == path


@pytest.mark.parametrize(("sent", "status"), [(_DELETE, "pass"), (False, "pass"), (True, "fail")])
async def test_a_tool_results_is_error_false_is_the_default(sent: object, status: str) -> None:
    recorded = {
        **RECORDED_MESSAGES_REQUEST,
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sun", "is_error": False}]},
        ],
    }
    case = make_case("messages", messages_text_body(), recorded)
    verdict = await Battery(EditsRequest(_set(("messages", 2, "content", 0, "is_error"), sent)), case).run("request")
    assert verdict.status == status, verdict.message
    if status == "fail":
        assert verdict.difference is not None and verdict.difference.path == "request.messages[2].content[0].is_error"


async def test_every_differing_request_field_is_reported() -> None:
    def two_changes(request: dict[str, Any]) -> dict[str, Any]:
        return {**request, "max_tokens": 9, "tool_choice": {"type": "none"}}

    case = make_case("messages", messages_text_body(), RECORDED_MESSAGES_REQUEST)
    verdict = await Battery(EditsRequest(two_changes), case).run("request")
    assert "request.max_tokens" in verdict.message and "request.tool_choice.type" in verdict.message


class AsksForNoStream:
    """A library that sends the request without ``stream`` and reads the reply as one JSON body."""

    name = "asks-for-no-stream"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        from streamproof.adapters.errors import MalformedStreamError

        body = {k: v for k, v in call.request.items() if k != "stream"}
        try:
            response = await call.http_client.post(f"{call.base_url}/v1/messages", json=body)
            message = response.json()
        except ValueError as exc:
            call.traces.emit({"status": "error", "billing": call.billing.model_dump(), "latency_ms": 1.0})
            raise MalformedStreamError(f"not JSON: {exc}") from exc
        yield {"kind": "text", "text": message["content"][0]["text"]}


async def test_a_request_without_the_stream_flag_fails_the_request_check_once() -> None:
    case = make_case("messages", messages_text_body(), RECORDED_MESSAGES_REQUEST)
    battery = Battery(AsksForNoStream(), case)
    verdicts = {check: await battery.run(check) for check in battery.checks}
    failed = {check: v.message for check, v in verdicts.items() if v.status == "fail"}
    assert list(failed) == ["request"], failed
    assert "lacks the recorded stream flag" in failed["request"]


# -- snapshots -------------------------------------------------------------------------------------


def tool_use_without_arguments_body() -> bytes:
    block = {"type": "tool_use", "id": "toolu_1", "name": "ping", "input": {}}
    return sse(
        {"type": "message_start", "message": {"id": "msg_1", "model": "m-1", "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    )


def drop_empty_arguments_event(data: dict[str, Any]) -> dict[str, Any] | None:
    """A library that sends no delta for a tool call whose input never streamed."""
    if data.get("kind") == "tool_call" and data.get("arguments") == "{}" and data.get("id") is None:
        return None
    return data


async def test_a_tool_call_without_argument_deltas_needs_no_synthetic_empty_object_event() -> None:
    case = make_case("messages", tool_use_without_arguments_body())
    reference = await Battery(ReferenceAdapter(), case).run("snapshot")
    battery = Battery(Rewrites(drop_empty_arguments_event), case)
    outcome = await battery.run("outcome")
    assert outcome.status == "pass", outcome.message
    assert snapshot_data(case, await battery.run("snapshot")) == snapshot_data(case, reference)


def test_coalescing_merges_adjacent_deltas_of_one_kind_and_block_only() -> None:
    from streamproof.conformance.battery import coalesced

    events = [
        {"kind": "reasoning", "block": 0, "text": "a", "signature": None},
        {"kind": "reasoning", "block": 0, "text": "b", "signature": None},
        {"kind": "reasoning", "block": 0, "text": "", "signature": "s0"},
        {"kind": "reasoning", "block": 1, "text": "c", "signature": None},
        {"kind": "text", "text": "Hel"},
        {"kind": "text", "text": "lo"},
        {"kind": "tool_call", "index": 0, "id": "t0", "name": "f", "arguments": ""},
        {"kind": "tool_call", "index": 0, "id": None, "name": None, "arguments": '{"a":'},
        {"kind": "tool_call", "index": 1, "id": "t1", "name": "g", "arguments": "{}"},
        {"kind": "tool_call", "index": 0, "id": None, "name": None, "arguments": "1}"},
    ]
    assert coalesced(events) == [
        {"kind": "reasoning", "block": 0, "text": "ab", "signature": "s0"},
        {"kind": "reasoning", "block": 1, "text": "c", "signature": None},
        {"kind": "text", "text": "Hello"},
        {"kind": "tool_call", "index": 0, "id": "t0", "name": "f", "arguments": '{"a":'},
        {"kind": "tool_call", "index": 1, "id": "t1", "name": "g", "arguments": "{}"},
        {"kind": "tool_call", "index": 0, "id": None, "name": None, "arguments": "1}"},
    ]


class MergesTextPairs:
    """A library that re-splits text: every two adjacent text deltas arrive as one."""

    name = "merges-text-pairs"
    capabilities = Capabilities(coalesced_deltas=True)
    known_gaps: Mapping[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        held: dict[str, Any] | None = None
        async for event in ReferenceAdapter().stream(call):
            data = event.model_dump(exclude={"message_id", "event_id"})  # type: ignore[attr-defined]
            if data["kind"] == "text" and held is not None:
                yield {**held, "text": held["text"] + data["text"]}
                held = None
            elif data["kind"] == "text":
                held = data
            else:
                if held is not None:
                    yield held
                    held = None
                yield data
        if held is not None:
            yield held


class MergesTextPairsUnclaimed(MergesTextPairs):
    capabilities = Capabilities()


def test_an_adapter_that_re_splits_deltas_passes_the_snapshot_when_it_claims_it(tmp_path: Path) -> None:
    import shutil

    from streamproof.cli.main import main
    from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes

    folder = tmp_path / "cassettes" / "openai" / "chat"
    folder.mkdir(parents=True)
    shutil.copy(bundled_cassettes() / "openai" / "chat" / "long_text.yaml", folder)
    snapshots = tmp_path / "snapshots" / "suite"
    snapshots.mkdir(parents=True)
    shutil.copy(
        SHIPPED_SNAPSHOTS / "suite" / "test_conformance[openai.chat.long_text#0-snapshot].json", snapshots
    )
    args = ["check", "--cassettes", str(tmp_path / "cassettes"), "--snapshots", str(snapshots.parent)]
    assert main([*args, "--adapter", "test_verdicts:MergesTextPairs"]) == 0
    assert main([*args, "--adapter", "test_verdicts:MergesTextPairsUnclaimed"]) == 1


# -- tool arguments --------------------------------------------------------------------------------


def chat_tool_body(arguments: list[str]) -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "c1",
            "model": "m-1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    start = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    pieces = [chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in arguments]
    usage = {
        "id": "c1",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    return sse(
        chunk({"role": "assistant", "tool_calls": [start]}), *pieces, chunk({}, "tool_calls"), usage, "[DONE]"
    )


def reserialized_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """A library that parses the arguments and serializes them again (its own spacing)."""
    if data.get("kind") == "tool_call":
        return {**data, "arguments": '{"b": 2, "a": 1}' if data.get("id") else ""}
    if "tool_calls" in data:
        calls = [{**call, "arguments": '{"b": 2, "a": 1}'} for call in data["tool_calls"]]
        return {**data, "tool_calls": calls}
    return data


class ReserializesExactly(Rewrites):
    capabilities = Capabilities(exact_arguments=True)


async def test_tool_arguments_are_compared_as_parsed_json_by_default() -> None:
    case = make_case("chat", chat_tool_body(['{"a":', " 1, ", '"b":2}']))
    verdict = await Battery(Rewrites(reserialized_arguments), case).run("outcome")
    assert verdict.status == "pass", verdict.message


async def test_byte_exact_arguments_are_a_capability_an_adapter_claims() -> None:
    case = make_case("chat", chat_tool_body(['{"a":', " 1, ", '"b":2}']))
    verdict = await Battery(ReserializesExactly(reserialized_arguments), case).run("outcome")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "outcome.tool_calls[0].arguments"
    assert (await Battery(ReferenceAdapter(), case).run("outcome")).status == "pass"


async def test_parsed_arguments_that_differ_still_fail() -> None:
    case = make_case("chat", chat_tool_body(['{"a":', " 1, ", '"b":3}']))
    verdict = await Battery(Rewrites(reserialized_arguments), case).run("outcome")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "outcome.tool_calls[0].arguments.b"


# -- known gaps at field level; every difference reported -----------------------------------------


def cache_write_body() -> bytes:
    usage = {"input_tokens": 5, "cache_creation_input_tokens": 1200, "cache_read_input_tokens": 0}
    return sse(
        {"type": "message_start", "message": {"id": "msg_1", "model": "m-1", "usage": usage}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    )


def no_cache_write(data: dict[str, Any]) -> dict[str, Any]:
    if "usage" in data:
        return {**data, "usage": {**data["usage"], "cache_write_tokens": None}}
    return data


class NoCacheWrite(Rewrites):
    known_gaps: Mapping[str, str] = {"outcome.usage.cache_write_tokens": "the library drops it"}


async def test_a_field_level_known_gap_is_an_expected_failure_of_that_field_only() -> None:
    case = make_case("messages", cache_write_body())
    verdict = await Battery(NoCacheWrite(no_cache_write), case).run("outcome")
    assert verdict.status == "xfail", verdict.message
    assert "the library drops it" in verdict.message


async def test_a_declared_gap_never_hides_an_unrelated_failure() -> None:
    def also_wrong_stop(data: dict[str, Any]) -> dict[str, Any]:
        data = no_cache_write(data)
        return {**data, "provider_stop_reason": "stop"} if "provider_stop_reason" in data else data

    case = make_case("messages", cache_write_body())
    verdict = await Battery(NoCacheWrite(also_wrong_stop), case).run("outcome")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "outcome.provider_stop_reason"
    assert "cache_write_tokens" not in verdict.message.split(" (and")[0]


async def test_every_differing_field_is_reported() -> None:
    def two_wrong_fields(data: dict[str, Any]) -> dict[str, Any]:
        data = no_cache_write(data)
        return {**data, "provider_stop_reason": "stop"} if "provider_stop_reason" in data else data

    case = make_case("messages", cache_write_body())
    verdict = await Battery(Rewrites(two_wrong_fields), case).run("outcome")
    assert verdict.status == "fail"
    assert "outcome.usage.cache_write_tokens" in verdict.message
    assert "outcome.provider_stop_reason" in verdict.message


def test_field_level_gap_keys_are_accepted_and_unknown_checks_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamproof.conformance.protocol import AdapterLoadError, gap_check, load_adapter

    assert gap_check("outcome.usage.cache_write_tokens") == "outcome"
    assert gap_check("faults[stall]:openai/*") == "faults"
    import test_verdicts

    monkeypatch.setattr(test_verdicts, "gapped", lambda: NoCacheWrite(no_cache_write), raising=False)
    assert load_adapter("test_verdicts:gapped").known_gaps == NoCacheWrite.known_gaps
    monkeypatch.setattr(NoCacheWrite, "known_gaps", {"outcomes.usage": "typo"})
    with pytest.raises(AdapterLoadError, match="unknown checks"):
        load_adapter("test_verdicts:gapped")


# -- the public error classifier; every SDK exception mapped ---------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "provider", "wanted"),
    [
        (429, b'{"error": {"code": "insufficient_quota", "type": "insufficient_quota", "message": "quota"}}', "openai", "LLMInsufficientCreditsError"),
        (429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, "anthropic", "LLMRateLimitError"),
        (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "anthropic", "LLMProviderOverloadedError"),
        (400, {"error": {"message": "This model's maximum context length is 8192 tokens"}}, "openai", "LLMContextWindowExceededError"),
        (None, {"error": {"message": "boom", "type": "server_error"}}, "openai", "LLMServerError"),
        (502, "<html>Bad gateway</html>", "openrouter.ai", "LLMServerError"),
        (None, {"error": {"message": "rate limited", "code": 429}}, "openrouter.ai", "LLMRateLimitError"),
    ],
)  # fmt: skip
def test_the_public_classifier_gives_the_class_the_battery_expects(
    status: int | None, body: Any, provider: str, wanted: str
) -> None:
    from streamproof.adapters import errors
    from streamproof.conformance.classify import classify_error
    from streamproof.conformance.oracle import error_class_for

    assert classify_error(status, body, provider) is getattr(errors, wanted)
    parsed = json.loads(body) if isinstance(body, bytes) else body
    if isinstance(parsed, dict):
        assert classify_error(status, body, provider).__name__ == error_class_for(status, parsed)


def test_provider_error_carries_retry_after_for_a_rate_limit() -> None:
    from streamproof.adapters.errors import LLMRateLimitError
    from streamproof.conformance.classify import provider_error

    error = provider_error(429, {"error": {"type": "rate_limit_error", "message": "slow"}}, "anthropic",
                           headers={"Retry-After": "7"})  # fmt: skip
    assert isinstance(error, LLMRateLimitError) and error.retry_after == 7.0 and error.status == 429


async def _sdk_exception(api: str, body: bytes) -> BaseException:
    """What the real SDK raises while reading ``body`` as a stream."""
    import anthropic
    import httpx2
    import openai

    from streamproof.conformance.transport import CaseTransport
    from streamproof.harness.served import ServedChunk, ServedResponse

    served = ServedResponse(
        status=200, headers=(("content-type", "text/event-stream"),), chunks=(ServedChunk(body, 0.0),)
    )
    async with httpx2.AsyncClient(transport=CaseTransport(served)) as http:
        try:
            if api == "messages":
                client = anthropic.AsyncAnthropic(
                    api_key="sk-ant-test-x", base_url="https://a.test", http_client=http, max_retries=0
                )
                stream = await client.messages.create(
                    model="m", max_tokens=9, messages=[{"role": "user", "content": "Hi"}], stream=True
                )
            else:
                oai = openai.AsyncOpenAI(
                    api_key="sk-test-x", base_url="https://o.test/v1", http_client=http, max_retries=0
                )
                stream = await oai.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "Hi"}], stream=True
                )  # type: ignore[assignment]
            async for _ in stream:
                pass
        except Exception as exc:  # what the SDK raised is the test's subject
            return exc
    raise AssertionError("the SDK raised nothing")


@pytest.mark.parametrize(
    ("api", "body", "wanted"),
    [
        ("chat", b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}\n\ndata: {"error": {"message": "The server had an error", "type": "server_error"}}\n\n', "LLMServerError"),
        ("chat", b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}\n\ndata: {"id":"c","choi\n\n', "MalformedStreamError"),
        ("messages", b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":1,"output_tokens":1}}}\n\nevent: content_block_start\ndata: {"type":"content_bl\n\n', "MalformedStreamError"),
    ],
)  # fmt: skip
async def test_map_sdk_exception_covers_what_the_sdks_raise_mid_stream(
    api: str, body: bytes, wanted: str
) -> None:
    from streamproof.adapters import errors
    from streamproof.adapters.error_mapping import map_sdk_exception

    raised = await _sdk_exception(api, body)
    mapped = map_sdk_exception(raised, "anthropic" if api == "messages" else "openai", mid_stream=True)
    assert isinstance(mapped, getattr(errors, wanted)), f"{type(raised).__name__} -> {mapped!r}"


def _instance(module: Any, cls: type[BaseException], request: Any) -> BaseException:
    """An instance of an SDK exception class, built the way the SDK builds it where it can be."""
    import httpx2

    try:
        if issubclass(cls, module.APIStatusError):
            response = httpx2.Response(500, request=request, json={"error": {"message": "x"}})
            return cls("x", response=response, body={"error": {"message": "x"}})  # type: ignore[call-arg]
        if issubclass(cls, module.APIConnectionError):
            return cls(request=request)  # type: ignore[call-arg]
        if issubclass(cls, module.APIResponseValidationError):
            return cls(response=httpx2.Response(200, request=request), body=None)  # type: ignore[call-arg]
        if issubclass(cls, module.APIError):
            return cls("x", request, body=None)  # type: ignore[call-arg]
        return cls("x")
    except TypeError:  # a class with a constructor of its own
        pass
    try:
        return cls(response=httpx2.Response(401, request=request), body=None)  # type: ignore[call-arg]
    except TypeError:  # its arguments are the SDK's own objects: its type is what is mapped
        return cls.__new__(cls)


def test_every_sdk_exception_class_maps_to_an_llm_error() -> None:
    import inspect

    import anthropic
    import httpx2
    import openai

    from streamproof.adapters.error_mapping import map_sdk_exception
    from streamproof.adapters.errors import LLMError

    request = httpx2.Request("POST", "https://o.test/v1/chat/completions")
    unmapped = []
    for module in (openai, anthropic):
        base = module.OpenAIError if module is openai else module.AnthropicError
        for name, cls in list(vars(module).items()):
            if not (inspect.isclass(cls) and issubclass(cls, base)) or name.startswith("_"):
                continue
            exc = _instance(module, cls, request)
            if not isinstance(map_sdk_exception(exc, "openai"), LLMError):
                unmapped.append(f"{module.__name__}.{name}")
    assert unmapped == []


# -- the network during a call ---------------------------------------------------------------------


def _raw_socket() -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        sock.connect(("127.0.0.1", 9))


def _urllib_in_a_thread() -> None:
    import threading
    import urllib.request

    def download() -> None:
        with contextlib.suppress(OSError):
            urllib.request.urlopen("http://127.0.0.1:9/tokenizer.json", timeout=1)

    thread = threading.Thread(target=download)  # a library's background download
    thread.start()
    thread.join()


def _sync_httpx() -> None:
    import httpx

    with httpx.Client(timeout=1) as client:
        client.get("http://127.0.0.1:9/v1/models")


def _sync_httpx2() -> None:
    import httpx2

    with httpx2.Client(timeout=1) as client:
        client.get("http://127.0.0.1:9/v1/models")


def _name_resolution() -> None:
    import socket

    socket.getaddrinfo("localhost", 443)


class LeavesTheCassette:
    """The reference stack, plus one attempt to reach the network that it shrugs off."""

    name = "leaves-the-cassette"
    capabilities = Capabilities()
    known_gaps: Mapping[str, str] = {}

    def __init__(self, attempt: Callable[[], None]) -> None:
        self.attempt = attempt

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        try:
            self.attempt()
        except Exception:  # a library that ignores its failed side request
            pass
        async for event in ReferenceAdapter().stream(call):
            yield event


@pytest.mark.parametrize(
    ("attempt", "host"),
    [
        (_raw_socket, "127.0.0.1:9"),
        (_urllib_in_a_thread, "127.0.0.1:9"),
        (_sync_httpx, "http://127.0.0.1:9/v1/models"),
        (_sync_httpx2, "http://127.0.0.1:9/v1/models"),
        (_name_resolution, "localhost:443 (name resolution)"),
    ],
)
async def test_a_connection_outside_the_cassette_fails_the_case_naming_the_host(
    attempt: Callable[[], None], host: str
) -> None:
    case = make_case("messages", messages_text_body())
    battery = Battery(LeavesTheCassette(attempt), case)
    for check in ("outcome", "traces", "snapshot"):
        verdict = await battery.run(check)
        assert verdict.status == "fail", (check, verdict.message)
        assert host in verdict.message


# -- index-less whole tool calls -------------------------------------------------------------------


async def test_the_oracle_keeps_index_less_whole_tool_calls_apart() -> None:
    from streamproof.conformance.oracle import expected_for

    case = index_less_tool_calls_case()
    expected = expected_for("chat", 200, case.interaction.response.body)
    assert expected.tool_calls == [
        {"id": "call_a", "name": "weather", "arguments": '{"city":"Paris"}'},
        {"id": "call_b", "name": "weather", "arguments": '{"city":"Rome"}'},
    ]
    assert (await Battery(ReferenceAdapter(), case).run("outcome")).status == "pass"


def test_known_gaps_name_a_fault_kind_or_every_fault() -> None:
    from streamproof.conformance.plugin import known_gap

    case = index_less_tool_calls_case()
    for key in ("faults[stall]", "faults.stall", "faults[stall]:openai/*"):
        assert known_gap({key: "no timeout"}, case, "faults[stall]") == "no timeout"
        assert known_gap({key: "no timeout"}, case, "faults[rate_limit]") is None
    assert known_gap({"faults": "retries are ours"}, case, "faults[rate_limit]") == "retries are ours"
    assert known_gap({"faults[stall]:anthropic/*": "x"}, case, "faults[stall]") is None


# -- the paced tail ----------------------------------------------------------------------------------


class _UntilCompleted(httpx2.AsyncByteStream):
    """The bytes up to the event that says the response is complete; nothing after it is read."""

    def __init__(self, response: httpx2.Response) -> None:
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_raw():
                yield chunk
                if b"response.completed" in chunk:
                    return
        finally:
            await self.response.aclose()


class _StopsAtTheEnd(httpx2.AsyncBaseTransport):
    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.client.send(request, stream=True)
        stream = _UntilCompleted(response)
        return httpx2.Response(response.status_code, headers=response.headers, stream=stream, request=request)


class StopsAtTheTerminalEvent(ReferenceAdapter):
    """The reference stack, reading nothing after ``response.completed`` (as the openai SDK's
    ``responses.stream`` helper does): OpenRouter's ``[DONE]`` after it is never read."""

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        async with httpx2.AsyncClient(transport=_StopsAtTheEnd(call.http_client)) as client:
            async for event in super().stream(dataclasses.replace(call, http_client=client)):
                yield event


def openrouter_responses_body() -> bytes:
    message = {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "Hi!"}]}
    usage = {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    return sse(
        {"type": "response.created", "response": {"id": "gen-1", "status": "in_progress", "model": "m-1"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**message, "content": []}},
        *({"type": "response.output_text.delta", "output_index": 0, "delta": d} for d in ("Hi", "!")),
        {"type": "response.output_item.done", "output_index": 0, "item": message},
        {
            "type": "response.completed",
            "response": {
                "id": "gen-1",
                "status": "completed",
                "model": "m-1",
                "output": [message],
                "usage": usage,
            },
        },
        "[DONE]",
        named=False,
    )


async def test_the_paced_tail_starts_at_the_terminal_event_not_at_openrouters_done() -> None:
    """An adapter that stops reading at ``response.completed`` never waits for a held ``[DONE]``:
    the held tail is the terminal event, so its latency shows the hold and the window is not inverted."""
    case = make_case("responses", openrouter_responses_body())
    verdict = await Battery(StopsAtTheTerminalEvent(), case).run("traces")
    assert verdict.status == "pass", verdict.message


async def test_latency_in_seconds_still_fails_on_the_terminal_event_tail() -> None:
    from thirdparty.broken import LatencyInSeconds

    case = make_case("responses", openrouter_responses_body())
    verdict = await Battery(LatencyInSeconds(), case).run("traces")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "trace.latency_ms"


def test_snapshots_number_reasoning_blocks_in_order_of_first_appearance() -> None:
    case = make_case("responses", b"", {})
    events = [
        {"kind": "hidden_reasoning", "block": 3, "data": "x"},
        {"kind": "reasoning", "block": 5, "text": "a", "signature": None},
        {"kind": "text", "text": "t"},
        {"kind": "reasoning", "block": 3, "text": "", "signature": "s"},
    ]
    stored = snapshot_data(case, Verdict("snapshot", "pass", events=events))["events"]
    assert [e.get("block") for e in stored] == [0, 1, None, 0]


async def test_an_adapter_failing_before_the_held_tail_is_not_judged_on_the_holds_timing() -> None:
    from thirdparty.misfits import fails_on_the_finish_chunk

    from streamproof.conformance.battery import discover_cases
    from streamproof.conformance.plugin import bundled_cassettes

    case = next(c for c in discover_cases(bundled_cassettes()) if c.id == "openai/chat/text#0")
    battery = Battery(fails_on_the_finish_chunk(), case)
    assert (await battery.run("outcome")).status == "fail"  # the failure is outcome's to judge
    verdict = await battery.run("traces")
    assert verdict.status == "pass", verdict.message
