"""``SQLiteSink``: the embedded default trace store, one ``provider_traces`` table in a SQLite file.

Every ``ProviderTrace`` field has a column; the billing context is flattened into ``plan_type``,
``cost_source`` and ``customer_id`` and usage into one column per token count, so rollups are plain
SQL. JSON-valued fields (request, response, llm_config, agent_tags) are stored as JSON text.

All database work runs on one dedicated thread (never on the event loop), with one connection in
WAL mode so readers — ``recent()``, ``usage_rollup()``, ``streamproof traces`` — can read while the
writer writes. Writing a trace whose id is already stored is a no-op, so a retried batch cannot
duplicate rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ...billing import BillingContext
from ...events import Usage
from ..model import ProviderTrace, TraceLLMConfig
from .base import json_text

USAGE_COLUMNS = tuple(Usage.model_fields)  # the token counters, then step_count
BILLING_COLUMNS = ("plan_type", "cost_source", "customer_id")
_PLAIN_COLUMNS = (
    "id",
    "created_at",
    "status",
    "provider",
    "api",
    "model",
    "response_id",
    "stop_reason",
    "provider_stop_reason",
    "step_id",
    "agent_id",
    "run_id",
    "organization_id",
    "user_id",
    "call_type",
    "latency_ms",
    "ttft_ms",
    "error_type",
    "error_message",
)
_JSON_COLUMNS = ("agent_tags", "llm_config", "request_json", "response_json")
COLUMNS = _PLAIN_COLUMNS + _JSON_COLUMNS + BILLING_COLUMNS + USAGE_COLUMNS

SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_traces (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'error', 'cancelled')),
    provider TEXT,
    api TEXT,
    model TEXT,
    response_id TEXT,
    stop_reason TEXT,
    provider_stop_reason TEXT,
    step_id TEXT,
    agent_id TEXT,
    run_id TEXT,
    organization_id TEXT,
    user_id TEXT,
    call_type TEXT,
    latency_ms REAL,
    ttft_ms REAL,
    error_type TEXT,
    error_message TEXT,
    agent_tags TEXT NOT NULL,
    llm_config TEXT NOT NULL,
    request_json TEXT NOT NULL,
    response_json TEXT,
    plan_type TEXT,
    cost_source TEXT,
    customer_id TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens INTEGER,
    reasoning_tokens INTEGER,
    step_count INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS provider_traces_created_at ON provider_traces (created_at);
CREATE INDEX IF NOT EXISTS provider_traces_billing ON provider_traces (plan_type, customer_id);
"""

_INSERT = (
    f"INSERT INTO provider_traces ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (id) DO NOTHING"
)


@dataclass(frozen=True)
class UsageRollupRow:
    """Totals for one (plan type, customer) pair. Token sums are ``None`` when no call reported them."""

    plan_type: str | None
    customer_id: str | None
    calls: int
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    errors: int


def trace_row(trace: ProviderTrace) -> tuple[Any, ...]:
    """The ``provider_traces`` row for ``trace``, in ``COLUMNS`` order."""
    billing = trace.billing or BillingContext()
    values: dict[str, Any] = {name: getattr(trace, name) for name in _PLAIN_COLUMNS}
    # fixed-width UTC text, so ORDER BY created_at is chronological
    values["created_at"] = trace.created_at.isoformat(timespec="microseconds")
    values["agent_tags"] = orjson.dumps(list(trace.agent_tags)).decode()
    values["llm_config"] = orjson.dumps(trace.llm_config.model_dump(mode="json")).decode()
    values["request_json"] = json_text(trace.request_json)
    values["response_json"] = None if trace.response_json is None else json_text(trace.response_json)
    values.update(billing.model_dump())
    values.update(trace.usage.model_dump())
    return tuple(values[name] for name in COLUMNS)


def trace_from_row(row: sqlite3.Row) -> ProviderTrace:
    billing_fields = {name: row[name] for name in BILLING_COLUMNS}
    return ProviderTrace(
        **{name: row[name] for name in _PLAIN_COLUMNS if name != "created_at"},
        created_at=datetime.fromisoformat(row["created_at"]),
        agent_tags=tuple(orjson.loads(row["agent_tags"])),
        llm_config=TraceLLMConfig.model_validate(orjson.loads(row["llm_config"])),
        request_json=orjson.loads(row["request_json"]),
        response_json=None if row["response_json"] is None else orjson.loads(row["response_json"]),
        billing=BillingContext(**billing_fields) if any(billing_fields.values()) else None,
        usage=Usage(**{name: row[name] for name in USAGE_COLUMNS}),
    )


class SQLiteSink:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamproof-sqlite-sink")
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        # create the table now, so readers of a fresh store see an empty table, not an error
        self._executor.submit(self._connect).result()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            self._connection = connection
        return self._connection

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        rows = [trace_row(trace) for trace in traces]
        await asyncio.get_running_loop().run_in_executor(self._executor, self._insert, rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        connection = self._connect()
        with connection:  # one transaction per batch: all rows or none
            connection.executemany(_INSERT, rows)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- reading (sync; each call opens its own read connection) ---------------------------------

    def recent(self, limit: int = 20) -> list[ProviderTrace]:
        """The ``limit`` most recent traces, newest first."""
        return read_recent(self.path, limit)

    def usage_rollup(self) -> list[UsageRollupRow]:
        return read_usage_rollup(self.path)


def _read(path: Path) -> closing[sqlite3.Connection]:
    if not path.is_file():
        raise FileNotFoundError(f"no trace store at {path}")
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    return closing(connection)


def read_recent(path: str | Path, limit: int = 20) -> list[ProviderTrace]:
    """The ``limit`` most recent traces stored at ``path``, newest first."""
    with _read(Path(path)) as connection:
        rows = connection.execute(
            "SELECT * FROM provider_traces ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall()
    return [trace_from_row(row) for row in rows]


def read_usage_rollup(path: str | Path) -> list[UsageRollupRow]:
    """Calls, tokens and errors per billing plan and customer, largest total first."""
    with _read(Path(path)) as connection:
        rows = connection.execute(
            """
            SELECT plan_type, customer_id, COUNT(*) AS calls,
                   SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens),
                   SUM(status = 'error') AS errors
            FROM provider_traces
            GROUP BY plan_type, customer_id
            ORDER BY COALESCE(SUM(total_tokens), 0) DESC, calls DESC, plan_type, customer_id
            """
        ).fetchall()
    return [UsageRollupRow(*row) for row in rows]
