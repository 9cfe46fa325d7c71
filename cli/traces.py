"""``streamproof traces [--db PATH] [--limit N]``: recent provider traces and the usage rollup by
billing plan and customer, read from the SQLite trace store (``SQLiteSink``). Exit 1 when the store
does not exist or cannot be read."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..adapters.billing import BillingContext
from ..adapters.traces.model import ProviderTrace
from ..adapters.traces.sinks.sqlite import UsageRollupRow, read_recent, read_usage_rollup

DEFAULT_DB = Path("streamproof-traces.db")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=DEFAULT_DB, help=f"SQLite trace store (default {DEFAULT_DB})"
    )
    parser.add_argument(
        "--limit", type=_positive, default=20, help="how many recent traces to show (default 20)"
    )


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def recent_table(traces: list[ProviderTrace]) -> Table:
    table = Table(
        title=f"{len(traces)} most recent provider traces",
        caption="call: provider/api model; billing: plan/cost source/customer",
    )
    table.add_column("UTC", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("call")
    table.add_column("billing")
    table.add_column("in/out", justify="right", no_wrap=True)
    table.add_column("ms/ttft", justify="right", no_wrap=True)
    table.add_column("error")
    for trace in traces:
        billing = trace.billing or BillingContext()
        table.add_row(
            trace.created_at.strftime("%m-%d %H:%M:%S"),
            trace.status,
            f"{_text(trace.provider)}/{_text(trace.api)} {_text(trace.model)}",
            f"{_text(billing.plan_type)}/{_text(billing.cost_source)}/{_text(billing.customer_id)}",
            f"{_text(trace.usage.prompt_tokens)}/{_text(trace.usage.completion_tokens)}",
            f"{_ms(trace.latency_ms)}/{_ms(trace.ttft_ms)}",
            _text(trace.error_type),
        )
    return table


def rollup_table(rows: list[UsageRollupRow]) -> Table:
    table = Table(title="Usage by billing plan and customer")
    table.add_column("plan")
    table.add_column("customer")
    for header in ("calls", "prompt tokens", "completion tokens", "total tokens", "errors"):
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(
            _text(row.plan_type),
            _text(row.customer_id),
            str(row.calls),
            _text(row.prompt_tokens),
            _text(row.completion_tokens),
            _text(row.total_tokens),
            str(row.errors),
        )
    return table


def run(args: argparse.Namespace) -> int:
    console = Console()
    errors = Console(stderr=True, soft_wrap=True)
    db: Path = args.db
    if not db.is_file():
        errors.print(f"[red]no trace store at {db}[/red] (write one with SQLiteSink, or pass --db)")
        return 1
    try:
        traces, rollup = read_recent(db, args.limit), read_usage_rollup(db)
    except sqlite3.DatabaseError as error:
        errors.print(f"[red]{db} is not a readable trace store: {error}[/red]")
        return 1
    console.print(recent_table(traces))
    console.print(rollup_table(rollup))
    return 0
