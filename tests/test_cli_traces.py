"""``streamproof traces``: recent traces and the usage rollup from a real SQLite store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from streamproof.adapters.billing import BillingContext
from streamproof.adapters.events import Usage
from streamproof.adapters.traces import ProviderTrace, TraceWriter
from streamproof.adapters.traces.sinks.sqlite import SQLiteSink
from streamproof.cli.main import main

START = datetime(2026, 5, 4, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich would otherwise elide cells at 80 columns


async def store(db: Path) -> None:
    enterprise = BillingContext(plan_type="enterprise", cost_source="credits", customer_id="cus_big")
    hobby = BillingContext(plan_type="hobby", cost_source="byok", customer_id="cus_small")
    writer = TraceWriter(SQLiteSink(db))
    for number in range(3):
        writer.emit(
            ProviderTrace(
                created_at=START + timedelta(seconds=number),
                provider="openai",
                api="chat",
                model=f"model-{number}",
                billing=enterprise,
                usage=Usage(prompt_tokens=1000, completion_tokens=200, total_tokens=1200),
                latency_ms=500.0,
            )
        )
    writer.emit(
        ProviderTrace(
            created_at=START + timedelta(seconds=10),
            provider="anthropic",
            api="messages",
            model="model-newest",
            billing=hobby,
            status="error",
            error_type="LLMRateLimitError",
        )
    )
    await writer.aclose()


async def test_prints_recent_traces_and_rollup(
    tmp_path: Path, wide_console: None, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "traces.db"
    await store(db)
    assert main(["traces", "--db", str(db), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    recent, rollup = out.split("Usage by billing plan and customer")
    assert "model-newest" in recent and "model-2" in recent and "model-1" not in recent  # newest two only
    assert "LLMRateLimitError" in recent and "anthropic/messages" in recent
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[1:-1]]
        for line in rollup.splitlines()
        if line.count("│") > 2
    }
    assert rows["enterprise"] == ["enterprise", "cus_big", "3", "3000", "600", "3600", "0"]
    assert rows["hobby"] == ["hobby", "cus_small", "1", "-", "-", "-", "1"]


def test_missing_store_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "--db", str(tmp_path / "none.db")]) == 1
    assert "no trace store at" in capsys.readouterr().err


def test_corrupt_store_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database" * 100)
    assert main(["traces", "--db", str(db)]) == 1
    assert "not a readable trace store: file is not a database" in capsys.readouterr().err


def test_sqlite_file_without_the_table_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    db = tmp_path / "other.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE unrelated (x)")
    assert main(["traces", "--db", str(db)]) == 1
    assert "no such table: provider_traces" in capsys.readouterr().err


def test_limit_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["traces", "--db", str(tmp_path / "x.db"), "--limit", "0"])
    assert exit_info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
