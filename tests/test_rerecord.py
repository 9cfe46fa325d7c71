"""``streamproof record`` replaces a cassette only with a recording that went as the scenario
expects: a transient 500 from a real loopback server keeps the good cassette, and says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.harness.cassette import load_cassette
from streamproof.harness.emulator import Emulator


def record(out: Path, scenario: str, base_url: str) -> int:
    return main(
        ["record", "--api", "chat", "--scenario", scenario, "--base-url", base_url, "--out", str(out)]
    )


@pytest.mark.parametrize("scenario", ["text", "bad_key"])  # a reply, and an error scenario (its 401)
def test_a_transient_500_keeps_the_good_cassette(
    tmp_path: Path, scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "openai" / "chat" / f"{scenario}.yaml"
    with Emulator() as emulator:
        assert record(tmp_path, scenario, emulator.base_url) == 0
    good = cassette.read_bytes()
    capsys.readouterr()
    with Emulator(fault="server_error") as flaky:  # every answer a 500, as a provider's bad moment
        code = record(tmp_path, scenario, flaky.base_url)
    assert cassette.read_bytes() == good
    assert code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"chat/{scenario}: InternalServerError: HTTP 500" in err
    assert f"kept the previous cassette {cassette}" in err
    assert sorted(path.name for path in cassette.parent.iterdir()) == [cassette.name]  # nothing left over


def test_a_failed_first_recording_is_written_to_be_looked_at_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(fault="unavailable") as flaky:
        assert record(tmp_path, "tool_call", flaky.base_url) == 1
    cassette = tmp_path / "openai" / "chat" / "tool_call.yaml"
    err = " ".join(capsys.readouterr().err.split())
    assert "chat/tool_call: InternalServerError: HTTP 503; not what the scenario expects" in err
    assert load_cassette(cassette).interactions[0].response.status == 503


def test_a_good_re_recording_replaces_the_cassette_and_keeps_its_mode(tmp_path: Path) -> None:
    cassette = tmp_path / "openai" / "chat" / "text.yaml"
    with Emulator() as emulator:
        assert record(tmp_path, "text", emulator.base_url) == 0
        with cassette.open("a", encoding="utf-8") as old:
            old.write("# the previous recording\n")
        os.chmod(cassette, 0o640)
        assert record(tmp_path, "text", emulator.base_url) == 0
    assert "# the previous recording" not in cassette.read_text(encoding="utf-8")
    assert load_cassette(cassette).interactions[0].response.status == 200
    assert cassette.stat().st_mode & 0o777 == 0o640
