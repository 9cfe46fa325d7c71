"""``ClickHouseSink``: traces into an ``llm_traces`` table, the shape of the original's production store.

Give it a ``clickhouse_connect`` client — ``clickhouse_connect.get_client(host=...)`` for a server, or
``clickhouse_connect.get_client(interface="chdb")`` for the embedded chDB engine (clickhouse-connect
≥ 1.6 ships that backend; the tests use it, so DDL and inserts run on a real ClickHouse engine). The
sink creates the table when missing (``CREATE TABLE IF NOT EXISTS``, MergeTree ordered by
``created_at, id``, partitioned by month) and inserts each batch with one ``client.insert`` call on a
worker thread (the client is blocking).

Columns: ``id``, ``created_at`` (DateTime64(6, 'UTC')), the caller's ids (``step_id``, ``agent_id``,
``run_id``, ``organization_id``, ``user_id``), ``agent_tags`` (Array(String)), ``call_type``,
``provider``, ``api``, ``model``, ``response_id``, ``stop_reason``, ``provider_stop_reason``,
``status``, ``is_error``, ``error_type``, ``error_message``, ``request_json`` / ``response_json`` /
``llm_config`` (JSON text), the usage counts (``prompt_tokens``, ``completion_tokens``,
``total_tokens``, ``cached_input_tokens``, ``cache_write_tokens``, ``reasoning_tokens``: Nullable,
``NULL`` = not reported; ``step_count``), ``latency_ms``, ``ttft_ms``, and the billing columns
``plan_type``, ``cost_source``, ``customer_id``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ..model import ProviderTrace
from .base import json_text

if TYPE_CHECKING:  # only the client's command/insert are used; clickhouse-connect is an optional extra
    from clickhouse_connect.driver.client import Client

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

COLUMN_TYPES: dict[str, str] = {
    "id": "String",
    "created_at": "DateTime64(6, 'UTC')",
    "step_id": "Nullable(String)",
    "agent_id": "Nullable(String)",
    "run_id": "Nullable(String)",
    "organization_id": "Nullable(String)",
    "user_id": "Nullable(String)",
    "agent_tags": "Array(String)",
    "call_type": "LowCardinality(Nullable(String))",
    "provider": "LowCardinality(Nullable(String))",
    "api": "LowCardinality(Nullable(String))",
    "model": "LowCardinality(Nullable(String))",
    "response_id": "Nullable(String)",
    "stop_reason": "LowCardinality(Nullable(String))",
    "provider_stop_reason": "LowCardinality(Nullable(String))",
    "status": "LowCardinality(String)",
    "is_error": "Bool",
    "error_type": "LowCardinality(Nullable(String))",
    "error_message": "Nullable(String)",
    "request_json": "String",
    "response_json": "Nullable(String)",
    "llm_config": "String",
    "prompt_tokens": "Nullable(Int64)",
    "completion_tokens": "Nullable(Int64)",
    "total_tokens": "Nullable(Int64)",
    "cached_input_tokens": "Nullable(Int64)",
    "cache_write_tokens": "Nullable(Int64)",
    "reasoning_tokens": "Nullable(Int64)",
    "step_count": "UInt32",
    "latency_ms": "Nullable(Float64)",
    "ttft_ms": "Nullable(Float64)",
    "plan_type": "LowCardinality(Nullable(String))",
    "cost_source": "LowCardinality(Nullable(String))",
    "customer_id": "Nullable(String)",
}
COLUMNS = tuple(COLUMN_TYPES)


def create_table_sql(table: str) -> str:
    columns = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMN_TYPES.items())
    return (
        f"CREATE TABLE IF NOT EXISTS {table} (\n    {columns}\n)\n"
        "ENGINE = MergeTree\nPARTITION BY toYYYYMM(created_at)\nORDER BY (created_at, id)"
    )


def trace_row(trace: ProviderTrace) -> list[Any]:
    """The ``llm_traces`` row for ``trace``, in ``COLUMNS`` order."""
    billing = trace.billing
    values: dict[str, Any] = {
        "id": trace.id,
        "created_at": trace.created_at,
        "step_id": trace.step_id,
        "agent_id": trace.agent_id,
        "run_id": trace.run_id,
        "organization_id": trace.organization_id,
        "user_id": trace.user_id,
        "agent_tags": list(trace.agent_tags),
        "call_type": trace.call_type,
        "provider": trace.provider,
        "api": trace.api,
        "model": trace.model,
        "response_id": trace.response_id,
        "stop_reason": trace.stop_reason,
        "provider_stop_reason": trace.provider_stop_reason,
        "status": trace.status,
        "is_error": trace.status == "error",
        "error_type": trace.error_type,
        "error_message": trace.error_message,
        "request_json": json_text(trace.request_json),
        "response_json": None if trace.response_json is None else json_text(trace.response_json),
        "llm_config": orjson.dumps(trace.llm_config.model_dump(mode="json")).decode(),
        **trace.usage.model_dump(),
        "latency_ms": trace.latency_ms,
        "ttft_ms": trace.ttft_ms,
        "plan_type": billing.plan_type if billing else None,
        "cost_source": billing.cost_source if billing else None,
        "customer_id": billing.customer_id if billing else None,
    }
    return [values[name] for name in COLUMNS]


class ClickHouseSink:
    def __init__(self, client: Client, *, table: str = "llm_traces", create_table: bool = True) -> None:
        if not _IDENTIFIER.fullmatch(table):
            raise ValueError(f"table name {table!r} is not a plain identifier (optionally database.table)")
        self.client = client
        self.table = table
        if create_table:
            client.command(create_table_sql(table))

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        rows = [trace_row(trace) for trace in traces]
        await asyncio.to_thread(self.client.insert, self.table, rows, column_names=list(COLUMNS))

    async def aclose(self) -> None:
        # the client belongs to the caller, who may still query through it
        return None
