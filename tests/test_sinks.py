"""The four trace sinks: billing context from headers reaches the stored record of each, read back
through the store itself (SQLite rows, OTel spans from the SDK's in-memory exporter, ClickHouse rows
from a real chDB engine)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamproof.adapters.billing import BillingContext, billing_context_from_headers
from streamproof.adapters.events import Usage
from streamproof.adapters.traces import ProviderTrace, TraceContext, TraceLLMConfig, TraceWriter, WriterStats
from streamproof.adapters.traces.sinks.base import json_text
from streamproof.adapters.traces.sinks.memory import MemorySink
from streamproof.adapters.traces.sinks.sqlite import SQLiteSink, UsageRollupRow, read_recent

HEADERS = {"X-Billing-Plan-Type": "pro", "x-billing-cost-source": "BYOK", "X-Billing-Customer-Id": "cus_42"}
STARTED = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def billing_from_headers() -> BillingContext:
    billing = billing_context_from_headers(HEADERS)
    assert billing is not None
    return billing


def success_trace(billing: BillingContext | None, *, number: int = 0, prompt: int = 120) -> ProviderTrace:
    context = TraceContext(
        step_id=f"step-{number}",
        agent_id="agent-7",
        run_id="run-3",
        organization_id="org-1",
        user_id="user-9",
        agent_tags=("support", "beta"),
        call_type="agent_step",
        billing=billing,
    )
    return ProviderTrace.from_context(
        context,
        created_at=STARTED + timedelta(seconds=number),
        request_json={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
        response_json={"id": f"chatcmpl-{number}", "choices": [{"message": {"content": "hello"}}]},
        llm_config=TraceLLMConfig(
            model="gpt-4o-mini",
            provider="openai",
            endpoint="https://api.openai.com/v1",
            api="chat",
            max_tokens=512,
            temperature=0.2,
        ),
        provider="openai",
        api="chat",
        model="gpt-4o-mini-2024-07-18",
        response_id=f"chatcmpl-{number}",
        stop_reason="end_turn",
        provider_stop_reason="stop",
        usage=Usage(
            prompt_tokens=prompt,
            completion_tokens=30,
            total_tokens=prompt + 30,
            cached_input_tokens=64,
            cache_write_tokens=None,
            reasoning_tokens=8,
        ),
        latency_ms=842.5,
        ttft_ms=121.0,
    )


def error_trace(billing: BillingContext | None) -> ProviderTrace:
    return ProviderTrace(
        created_at=STARTED + timedelta(minutes=5),
        request_json={"model": "claude-sonnet-4-5"},
        provider="anthropic",
        api="messages",
        model="claude-sonnet-4-5",
        billing=billing,
        status="error",
        error_type="LLMProviderOverloadedError",
        error_message="Overloaded",
        latency_ms=40.0,
    )


async def write_all(sink: Any, traces: Sequence[ProviderTrace]) -> TraceWriter:
    writer = TraceWriter(sink)
    for trace in traces:
        writer.emit(trace)
    await writer.aclose()
    return writer


# request JSON the SDK sends without complaint, but that orjson's defaults cannot write
ODD_REQUEST = {
    "model": "gpt-4o-mini",
    "logit_bias": {50256: -100, 198: 5},  # integer keys
    "seed": 2**64,  # beyond 64 bits
    "messages": [{"role": "user", "content": "caf\udce9"}],  # a lone surrogate (surrogateescape)
}


def odd_trace(number: int = 0) -> ProviderTrace:
    return success_trace(None, number=number).model_copy(
        update={"request_json": ODD_REQUEST, "response_json": {"scores": {1: 0.5}}}
    )


def test_json_text_writes_what_orjson_refuses() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(300):
        inner["x"] = inner = {}
    assert orjson.loads(json_text({"logit_bias": {50256: -100}})) == {"logit_bias": {"50256": -100}}
    assert orjson.loads(json_text(ODD_REQUEST)) == {
        "model": "gpt-4o-mini",
        "logit_bias": {"50256": -100, "198": 5},
        "seed": "18446744073709551616",
        "messages": [{"role": "user", "content": "caf?"}],
    }
    assert orjson.loads(json_text({(1, 2): loop, "when": STARTED})) == {
        "(1, 2)": [1, "<cycle>"],
        "when": str(STARTED),
    }
    assert "<nested too deep>" in json_text(deep)
    assert json_text({"d": Decimal("1.5")}) == '{"d":"1.5"}'


# -- SQLite ---------------------------------------------------------------------------------------


async def test_sqlite_row_carries_billing_from_headers(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    billing = billing_from_headers()
    writer = await write_all(SQLiteSink(db), [success_trace(billing)])
    assert writer.stats.written == 1

    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM provider_traces").fetchone()
    assert (row["plan_type"], row["cost_source"], row["customer_id"]) == ("pro", "byok", "cus_42")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_input_tokens"]) == (120, 30, 64)
    assert row["cache_write_tokens"] is None  # not reported stays NULL, not 0
    assert row["latency_ms"] == 842.5 and row["ttft_ms"] == 121.0
    assert row["agent_id"] == "agent-7" and row["call_type"] == "agent_step"


async def test_sqlite_stores_request_json_with_integer_keys_and_huge_ints(tmp_path: Path) -> None:
    # lesson: one such trace made its whole batch fail (orjson: "Dict key must be str")
    sink = SQLiteSink(tmp_path / "traces.db")
    writer = await write_all(sink, [odd_trace(n) for n in range(3)] + [success_trace(None, number=9)])
    assert writer.stats == WriterStats(emitted=4, written=4)
    stored = sink.recent(10)
    assert len(stored) == 4
    assert stored[1].request_json["logit_bias"] == {"50256": -100, "198": 5}  # as the SDK sent them
    assert stored[1].request_json["seed"] == "18446744073709551616"
    assert stored[1].response_json == {"scores": {"1": 0.5}}


async def test_sqlite_recent_round_trips_traces_newest_first(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    billing = billing_from_headers()
    traces = [success_trace(billing, number=n) for n in range(5)] + [error_trace(None)]
    sink = SQLiteSink(db)
    await write_all(sink, traces)

    recent = sink.recent(3)
    assert recent == [traces[5], traces[4], traces[3]]
    assert recent[1].billing == billing and recent[0].billing is None
    assert recent[1].llm_config.endpoint == "https://api.openai.com/v1"


async def test_sqlite_usage_rollup_by_plan_and_customer(tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    pro = BillingContext(plan_type="pro", cost_source="credits", customer_id="cus_a")
    free = BillingContext(plan_type="free", cost_source="free", customer_id="cus_b")
    traces = [
        success_trace(pro, number=1, prompt=100),
        success_trace(pro, number=2, prompt=300),
        error_trace(pro),
        success_trace(free, number=3, prompt=10),
        error_trace(None),
    ]
    sink = SQLiteSink(db)
    await write_all(sink, traces)

    assert sink.usage_rollup() == [
        UsageRollupRow(
            "pro", "cus_a", calls=3, prompt_tokens=400, completion_tokens=60, total_tokens=460, errors=1
        ),
        UsageRollupRow(
            "free", "cus_b", calls=1, prompt_tokens=10, completion_tokens=30, total_tokens=40, errors=0
        ),
        UsageRollupRow(
            None, None, calls=1, prompt_tokens=None, completion_tokens=None, total_tokens=None, errors=1
        ),
    ]


async def test_sqlite_writes_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "traces.db")
    insert_threads: list[str] = []
    original_insert = sink._insert

    def recording_insert(rows: list[tuple[Any, ...]]) -> None:
        insert_threads.append(threading.current_thread().name)
        original_insert(rows)

    sink._insert = recording_insert  # type: ignore[method-assign]
    await write_all(sink, [success_trace(None)])
    assert insert_threads and all(name != threading.current_thread().name for name in insert_threads)
    assert all(name.startswith("streamproof-sqlite-sink") for name in insert_threads)


async def test_sqlite_rewriting_a_trace_does_not_duplicate_it(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "traces.db")
    first, second = success_trace(None, number=0), success_trace(None, number=1)
    await sink.write_batch([first])
    await sink.write_batch([first, second])
    await sink.aclose()
    assert [t.id for t in sink.recent(10)] == [second.id, first.id]


def test_sqlite_reader_names_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no trace store at .*absent\.db"):
        read_recent(tmp_path / "absent.db")


# -- OpenTelemetry --------------------------------------------------------------------------------


@pytest.fixture
def span_exporter() -> Iterator[Any]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exporter.provider = provider  # type: ignore[attr-defined]
    yield exporter
    provider.shutdown()


async def test_otel_span_follows_genai_conventions_and_carries_billing(span_exporter: Any) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    from streamproof.adapters.traces.sinks.otel import OTelSink

    trace = success_trace(billing_from_headers())
    await write_all(OTelSink(span_exporter.provider), [trace])

    (span,) = span_exporter.get_finished_spans()
    attributes = dict(span.attributes)
    assert span.name == "chat gpt-4o-mini" and span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    assert attributes["billing.plan_type"] == "pro"
    assert attributes["billing.cost_source"] == "byok"
    assert attributes["billing.customer_id"] == "cus_42"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.max_tokens"] == 512
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.id"] == "chatcmpl-0"
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(0.121)
    assert attributes["gen_ai.usage.input_tokens"] == 120
    assert attributes["gen_ai.usage.output_tokens"] == 30
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 64
    assert "gen_ai.usage.cache_creation.input_tokens" not in attributes  # not reported: left out
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 8
    assert attributes["gen_ai.agent.id"] == "agent-7"
    assert attributes["server.address"] == "api.openai.com" and attributes["server.port"] == 443
    assert attributes["streamproof.agent_tags"] == ("support", "beta")
    assert "error.type" not in attributes
    start_ns = 1_772_366_400_250_000_000  # 2026-03-01T12:00:00.25Z
    assert span.start_time == start_ns
    assert span.end_time == start_ns + 842_500_000


async def test_otel_error_and_cancelled_spans(span_exporter: Any) -> None:
    from opentelemetry.trace import StatusCode

    from streamproof.adapters.traces.sinks.otel import OTelSink

    billing = BillingContext(plan_type="team", cost_source="subscription", customer_id="cus_9")
    cancelled = ProviderTrace(status="cancelled", model="m", latency_ms=3.0, billing=billing)
    await write_all(OTelSink(span_exporter.provider), [error_trace(billing), cancelled])

    error_span, cancelled_span = span_exporter.get_finished_spans()
    assert error_span.status.status_code == StatusCode.ERROR
    assert error_span.status.description == "Overloaded"
    assert error_span.attributes["error.type"] == "LLMProviderOverloadedError"
    assert error_span.attributes["gen_ai.provider.name"] == "anthropic"
    assert error_span.attributes["billing.customer_id"] == "cus_9"
    assert cancelled_span.status.status_code == StatusCode.UNSET
    assert "error.type" not in cancelled_span.attributes
    assert cancelled_span.attributes["streamproof.status"] == "cancelled"
    assert cancelled_span.attributes["billing.cost_source"] == "subscription"


def test_otel_attribute_names_match_the_pinned_semconv() -> None:
    from importlib.metadata import version

    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv.attributes import error_attributes, server_attributes

    from streamproof.adapters.traces.sinks import otel

    assert version("opentelemetry-semantic-conventions") == otel.SEMCONV_VERSION
    for name in (
        "GEN_AI_OPERATION_NAME",
        "GEN_AI_PROVIDER_NAME",
        "GEN_AI_REQUEST_MODEL",
        "GEN_AI_REQUEST_MAX_TOKENS",
        "GEN_AI_REQUEST_TEMPERATURE",
        "GEN_AI_REQUEST_STREAM",
        "GEN_AI_RESPONSE_ID",
        "GEN_AI_RESPONSE_MODEL",
        "GEN_AI_RESPONSE_FINISH_REASONS",
        "GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK",
        "GEN_AI_USAGE_INPUT_TOKENS",
        "GEN_AI_USAGE_OUTPUT_TOKENS",
        "GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS",
        "GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS",
        "GEN_AI_USAGE_REASONING_OUTPUT_TOKENS",
        "GEN_AI_AGENT_ID",
    ):
        assert getattr(otel, name) == getattr(gen_ai, name), name
    assert gen_ai.GenAiOperationNameValues.CHAT.value == otel.OPERATION_CHAT
    assert otel.ERROR_TYPE == error_attributes.ERROR_TYPE
    assert (otel.SERVER_ADDRESS, otel.SERVER_PORT) == (
        server_attributes.SERVER_ADDRESS,
        server_attributes.SERVER_PORT,
    )


# -- ClickHouse (real engine, in-process, through clickhouse-connect's chDB backend) ---------------


@pytest.fixture(scope="module")
def clickhouse_client() -> Iterator[Any]:
    pytest.importorskip("chdb")
    import clickhouse_connect

    client = clickhouse_connect.get_client(interface="chdb")  # one in-memory engine for this module
    client.command("CREATE DATABASE IF NOT EXISTS streamproof_test")
    yield client
    client.close()


async def test_clickhouse_row_carries_billing_from_headers(clickhouse_client: Any) -> None:
    from streamproof.adapters.traces.sinks.clickhouse import ClickHouseSink

    table = "streamproof_test.llm_traces_billing"
    billing = billing_from_headers()
    sink = ClickHouseSink(clickhouse_client, table=table)
    writer = await write_all(sink, [success_trace(billing), error_trace(None)])
    assert writer.stats.written == 2

    result = clickhouse_client.query(
        f"SELECT id, plan_type, cost_source, customer_id, prompt_tokens, cache_write_tokens, agent_tags, "
        f"is_error, error_type, latency_ms, ttft_ms, created_at, JSONExtractString(request_json, 'model') "
        f"FROM {table} ORDER BY created_at"
    )
    first, second = result.result_rows
    assert first[1:4] == ("pro", "byok", "cus_42")
    assert first[4] == 120 and first[5] is None
    assert first[6] == ["support", "beta"]
    assert first[7] is False and first[8] is None
    assert (first[9], first[10]) == (842.5, 121.0)
    assert first[11].replace(tzinfo=timezone.utc) == STARTED
    assert first[12] == "gpt-4o-mini"
    assert second[1:4] == (None, None, None)
    assert second[7] is True and second[8] == "LLMProviderOverloadedError"


async def test_clickhouse_thousand_traces_and_rollup_in_engine(clickhouse_client: Any) -> None:
    from streamproof.adapters.traces.sinks.clickhouse import ClickHouseSink

    table = "streamproof_test.llm_traces_bulk"
    plans = [BillingContext(plan_type="pro", customer_id=f"cus_{n % 3}") for n in range(1000)]
    sink = ClickHouseSink(clickhouse_client, table=table)

    async def call(number: int) -> None:
        await asyncio.sleep(0)
        writer.emit(success_trace(plans[number], number=number, prompt=number))

    writer = TraceWriter(sink, batch_size=200)
    await asyncio.gather(*(call(n) for n in range(1000)))
    await writer.aclose()

    assert writer.stats.written == 1000
    rows = clickhouse_client.query(
        f"SELECT customer_id, count(), sum(prompt_tokens) FROM {table} GROUP BY customer_id ORDER BY customer_id"
    ).result_rows
    expected = [
        (f"cus_{k}", sum(1 for n in range(1000) if n % 3 == k), sum(n for n in range(1000) if n % 3 == k))
        for k in range(3)
    ]
    assert [tuple(row) for row in rows] == expected


async def test_clickhouse_stores_request_json_with_integer_keys_and_huge_ints(clickhouse_client: Any) -> None:
    from streamproof.adapters.traces.sinks.clickhouse import ClickHouseSink

    table = "streamproof_test.llm_traces_odd_json"
    sink = ClickHouseSink(clickhouse_client, table=table)
    writer = await write_all(sink, [odd_trace(n) for n in range(3)] + [success_trace(None, number=9)])
    assert writer.stats == WriterStats(emitted=4, written=4)
    rows = clickhouse_client.query(
        f"SELECT JSONExtractInt(request_json, 'logit_bias', '50256'), JSONExtractString(request_json, 'seed'),"
        f" JSONExtractFloat(response_json, 'scores', '1') FROM {table} WHERE step_id = 'step-1'"
    ).result_rows
    assert [tuple(row) for row in rows] == [(-100, "18446744073709551616", 0.5)]
    assert clickhouse_client.query(f"SELECT count() FROM {table}").result_rows[0][0] == 4


def test_clickhouse_table_name_must_be_an_identifier() -> None:
    from streamproof.adapters.traces.sinks.clickhouse import ClickHouseSink

    with pytest.raises(ValueError, match="not a plain identifier"):
        ClickHouseSink(client=None, table="llm_traces; DROP TABLE x")  # type: ignore[arg-type]


async def test_memory_sink_keeps_billing() -> None:
    sink = MemorySink()
    await write_all(sink, [success_trace(billing_from_headers())])
    assert sink.traces[0].billing == BillingContext(plan_type="pro", cost_source="byok", customer_id="cus_42")


async def test_sqlite_sink_closes_once_and_refuses_later_writes(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "traces.db")
    await sink.aclose()
    await sink.aclose()
    with pytest.raises(RuntimeError):
        await sink.write_batch([success_trace(None)])


async def test_sqlite_recent_orders_by_time_across_whole_seconds(tmp_path: Path) -> None:
    whole = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
    just_before = whole - timedelta(microseconds=1)
    later = whole + timedelta(microseconds=500)
    sink = SQLiteSink(tmp_path / "traces.db")
    # written out of order; the whole-second one has no fractional part to compare
    await write_all(sink, [ProviderTrace(created_at=t) for t in (whole, later, just_before)])
    assert [t.created_at for t in sink.recent(3)] == [later, whole, just_before]
