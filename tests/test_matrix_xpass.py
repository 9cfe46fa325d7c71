"""``streamproof matrix`` shows a declared gap whose check passes as stale (XPASS), not as a pass:
JUnit, which the matrix reads, writes an XPASS as a plain pass, so the item carries its final status."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name

STALE = "thirdparty.stale:declares_what_it_does"  # declares chunking:openai/chat/text#0, which it passes


def test_a_stale_gap_is_stale_in_the_matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "recordings"
    (folder / "openai/chat").mkdir(parents=True)
    shutil.copy(bundled_cassettes() / "openai/chat/text.yaml", folder / "openai/chat/text.yaml")
    (folder / "__snapshots__" / "suite").mkdir(parents=True)  # the shipped one: no reference run first
    name = snapshot_name("openai/chat/text#0")
    shutil.copy(SHIPPED_SNAPSHOTS / "suite" / name, folder / "__snapshots__" / "suite" / name)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))  # the run's subprocess finds thirdparty
    out = tmp_path / "out"
    assert main(["matrix", "--adapter", STALE, "--cassettes", str(folder), "--out", str(out)]) == 0
    verdicts = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    run = verdicts["adapters"][STALE]["sets"]["recordings"]
    status = {v["check"]: v["status"] for v in run["verdicts"] if v["case"] == "openai/chat/text#0"}
    assert status["chunking"] == "xpass"
    assert {s for check, s in status.items() if check != "chunking"} == {"pass"}
    assert run["counts"]["openai/chat"]["chunking"] == {"xpass": 1}
    row = next(line for line in (out / "matrix.md").read_text(encoding="utf-8").splitlines() if STALE in line)
    assert "1 stale" in row
