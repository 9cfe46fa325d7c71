"""``streamproof matrix``: several adapters over a cassette set, one HTML page, Markdown and JSON."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.plugin import bundled_cassettes
from streamproof.conformance.protocol import FAULT_KINDS

CASES = ("openai/chat/max_tokens", "anthropic/messages/reasoning")
BROKEN = "thirdparty.broken:drops_last_text_delta"


@pytest.fixture
def cassettes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "recordings"
    for name in CASES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", folder / f"{name}.yaml")
    # each run is a subprocess: it finds tests/thirdparty the way this process does
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    return folder


def test_matrix_of_the_reference_and_a_broken_adapter(tmp_path: Path, cassettes: Path) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "matrix",
            "--adapter",
            "reference",
            "--adapter",
            BROKEN,
            "--cassettes",
            str(cassettes),
            "--out",
            str(out),
        ]
    )
    assert code == 1  # the broken adapter fails
    table = (out / "matrix.md").read_text(encoding="utf-8")
    head = table.splitlines()[0]
    assert all(f"| faults[{kind}] |" in head for kind in FAULT_KINDS)
    rows = {
        tuple(cell.strip() for cell in line.strip("|").split("|")[:3]): line
        for line in table.splitlines()[2:]
        if line.startswith("| ")
    }
    assert set(rows) == {
        (adapter, "recordings", api)
        for adapter in ("reference", BROKEN)
        for api in ("openai/chat", "anthropic/messages")
    }
    assert "✗" not in rows["reference", "recordings", "openai/chat"]  # snapshots: made by the reference
    assert "1✗" in rows[BROKEN, "recordings", "openai/chat"]
    verdicts = json.loads((out / "matrix.json").read_text(encoding="utf-8"))
    broken = verdicts["adapters"][BROKEN]["sets"]["recordings"]
    assert broken["exit_code"] == 1
    failed = {(v["case"], v["check"]) for v in broken["verdicts"] if v["status"] == "fail"}
    assert ("openai/chat/max_tokens#0", "outcome") in failed
    assert broken["counts"]["openai/chat"]["outcome"] == {"fail": 1}
    reference = verdicts["adapters"]["reference"]["sets"]["recordings"]
    assert reference["exit_code"] == 0
    assert all(v["status"] == "pass" for v in reference["verdicts"])
    page = (out / "matrix.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "FAIL:" in page
    assert 'data-check="faults[stall]"' in page and "openai/chat/max_tokens#0::outcome" in page
    # one self-contained file: no script, stylesheet link, image or any URL to fetch
    assert not re.search(r"<script|<link|<img|src=|https?://", page)


def test_matrix_exit_codes(tmp_path: Path, cassettes: Path) -> None:
    out = tmp_path / "out"
    assert main(["matrix", "--adapter", "reference", "--cassettes", str(cassettes), "--out", str(out)]) == 0
    assert main(["matrix", "--adapter", "no-such", "--cassettes", str(cassettes), "--out", str(out)]) == 2
    assert (
        main(["matrix", "--adapter", "reference", "--cassettes", str(tmp_path / "none"), "--out", str(out)])
        == 2
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["matrix", "--adapter", "reference", "--cassettes", str(empty), "--out", str(out)]) == 2


def test_check_snapshot_update_accepts_the_reference_by_short_name(tmp_path: Path, cassettes: Path) -> None:
    snapshots = tmp_path / "snapshots"
    args = ["check", "--adapter", "reference", "--cassettes", str(cassettes), "--snapshots", str(snapshots)]
    assert main([*args, "--snapshot-update"]) == 0
    assert len(list((snapshots / "suite").glob("*.json"))) == len(CASES)
