"""Honest exits of ``streamproof check``: a run that checked nothing, a corrupt cassette, a snapshot
update by another adapter than the reference, and a crash of the suite itself each say so."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name
from streamproof.conformance.protocol import ITEMS


def cassettes(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "cassettes"
    folder.mkdir(exist_ok=True)
    for name in names:
        target = folder / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", target)
    return folder


def snapshots_for(tmp_path: Path, folder: Path) -> Path:
    snapshots = tmp_path / "snapshots"
    (snapshots / "suite").mkdir(parents=True, exist_ok=True)
    for case in discover_cases(folder):
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots / "suite")
    return snapshots


def err_of(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())  # rich wraps long lines


class Cells(HTMLParser):
    """The matrix cells of an HTML report and the text of its failure sections."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td" and "data-check" in dict(attrs):
            self.cells.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_report(path: Path) -> Cells:
    reader = Cells()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader


# --- 16: a run that checked nothing exits 2 ---------------------------------------------------------


def test_an_empty_folder_checks_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["check", "--cassettes", str(empty)]) == 2
    assert "nothing was checked" in err_of(capsys)


def test_cassettes_without_interactions_check_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "cassettes" / "openai" / "chat"
    folder.mkdir(parents=True)
    (folder / "text.yaml").write_text("version: 1\ninteractions: []\n", encoding="utf-8")
    (folder / "typo.yml").write_text("version: 1\ninteractions: []\n", encoding="utf-8")  # not a .yaml
    assert main(["check", "--cassettes", str(tmp_path / "cassettes")]) == 2
    err = err_of(capsys)
    assert "nothing was checked" in err and "no recorded interaction" in err


def test_a_run_where_every_check_is_skipped_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "anthropic/messages/reasoning")  # the adapter speaks only chat
    args = [
        "check",
        "--adapter",
        "thirdparty.broken:declared_buffering_chat_only",
        "--cassettes",
        str(folder),
    ]
    assert main([*args, "--snapshots", str(snapshots_for(tmp_path, folder))]) == 2
    err = err_of(capsys)
    assert "nothing was checked" in err and f"all {len(ITEMS)} checks were skipped" in err


def _pytest_suite(tmp_path: Path, *options: str) -> list[str]:
    """Plain pytest's arguments for the suite, run in ``tmp_path`` (collecting nothing else)."""
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
    args = ["-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    return [*args, *options, str(tmp_path)]


def test_plain_pytest_on_an_empty_folder_checks_nothing_and_does_not_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = pytest.main(_pytest_suite(tmp_path, f"--streamproof-cassettes={empty}"))
    assert code == pytest.ExitCode.NO_TESTS_COLLECTED
    assert "streamproof: nothing was checked: no recorded interaction" in capsys.readouterr().out


def test_plain_pytest_where_every_check_is_skipped_does_not_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "anthropic/messages/reasoning")  # the adapter speaks only chat
    options = [
        "--streamproof-adapter=thirdparty.broken:declared_buffering_chat_only",
        f"--streamproof-cassettes={folder}",
        f"--streamproof-snapshots={snapshots_for(tmp_path, folder)}",
    ]
    assert pytest.main(_pytest_suite(tmp_path, *options)) == pytest.ExitCode.NO_TESTS_COLLECTED
    assert f"nothing was checked: all {len(ITEMS)} checks were skipped" in capsys.readouterr().out


def test_plain_pytest_with_every_case_deselected_is_the_callers_choice(tmp_path: Path) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    (tmp_path / "test_own.py").write_text("def test_own() -> None:\n    assert 1 + 1 == 2\n", encoding="utf-8")
    options = [f"--streamproof-cassettes={folder}", f"--streamproof-snapshots={snapshots_for(tmp_path, folder)}"]
    # the user's own test selected, the suite's deselected: their run, not a run that checked nothing
    assert pytest.main(_pytest_suite(tmp_path, *options, "-k", "test_own")) == pytest.ExitCode.OK


def test_a_mistyped_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--cassettes", str(tmp_path / "casettes")]) == 2
    err = err_of(capsys)
    assert "usage: streamproof check" in err and "casettes: no such file or folder" in err


# --- 17: a corrupt cassette fails its own case; the rest run and the reports are written ------------


def test_a_corrupt_cassette_fails_its_own_case_and_the_rest_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    snapshots = snapshots_for(tmp_path, folder)
    broken = folder / "openai" / "chat" / "broken.yaml"
    broken.write_text("version: 1\ninteractions: [ {request: \n", encoding="utf-8")
    report, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    args = ["check", "--cassettes", str(folder), "--snapshots", str(snapshots)]
    assert main([*args, "--report", str(report), "--junit", str(junit)]) == 1
    err = err_of(capsys)
    assert "Traceback" not in err
    assert "FAIL openai/chat/broken#load::load:" in err and "broken.yaml: not valid YAML" in err
    cells = read_report(report).cells
    assert {
        (cell["data-check"], cell["class"]) for cell in cells if "broken.yaml" in (cell["title"] or "")
    } == {("load", "fail")}
    assert sum(cell["class"] == "pass" for cell in cells) == len(ITEMS)  # the good cassette's checks
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [case for case in suite.iter("testcase") if case.find("failure") is not None]
    assert len(failed) == 1 and "broken#load-load" in (failed[0].get("name") or "")
    assert "not valid YAML" in (failed[0].find("failure").get("message") or "")  # type: ignore[union-attr]


def test_a_corrupt_cassette_keeps_its_snapshots_on_update(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cassette that no longer loads has not gone away: its snapshots are not 'unused'."""
    folder = cassettes(tmp_path, "openai/chat/text", "openai/chat/tool_call")
    snapshots = snapshots_for(tmp_path, folder)
    (folder / "openai" / "chat" / "tool_call.yaml").write_text("version: [\n", encoding="utf-8")
    args = ["check", "--cassettes", str(folder), "--snapshots", str(snapshots), "--snapshot-update"]
    assert main(args) == 1
    assert (snapshots / "suite" / snapshot_name("openai/chat/tool_call#0")).exists()
    assert "tool_call.yaml" in err_of(capsys)


# --- 18: snapshots are the reference's ---------------------------------------------------------------


def test_another_adapter_may_not_update_the_snapshots_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    snapshots = snapshots_for(tmp_path, folder)
    stored = snapshots / "suite" / snapshot_name("openai/chat/text#0")
    before = stored.read_bytes()
    args = ["check", "--adapter", "thirdparty.broken:drops_last_text_delta", "--cassettes", str(folder)]
    args += ["--snapshots", str(snapshots), "--snapshot-update"]
    assert main(args) == 2
    err = err_of(capsys)
    assert "reference" in err and "--force-snapshot-update" in err
    assert stored.read_bytes() == before
    assert main([*args, "--force-snapshot-update"]) == 1  # forced: written (its outcome still fails)
    assert stored.read_bytes() != before


def test_pytest_refuses_a_snapshot_update_by_another_adapter(tmp_path: Path) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    snapshots = snapshots_for(tmp_path, folder)
    stored = snapshots / "suite" / snapshot_name("openai/chat/text#0")
    before = stored.read_bytes()
    ini = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    (tmp_path / "pytest.ini").write_text(ini, encoding="utf-8")
    args = ["-q", "-p", "no:cacheprovider", "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path)]
    args += [
        "--streamproof-adapter=thirdparty.broken:drops_last_text_delta",
        f"--streamproof-cassettes={folder}",
    ]
    args += [f"--streamproof-snapshots={snapshots}", "--snapshot-update", str(tmp_path)]
    assert pytest.main(args) == pytest.ExitCode.USAGE_ERROR
    assert stored.read_bytes() == before


def test_the_first_run_says_how_to_make_snapshots_with_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    args = ["check", "--adapter", "thirdparty.sdk_adapter:factory", "--cassettes", str(folder)]
    assert main(args) == 1
    err = err_of(capsys)
    assert f"streamproof check --cassettes {folder} --snapshot-update" in err
    assert "reference adapter" in err


# --- 19: a crash of the suite while judging is an error of that case --------------------------------


def test_a_crash_of_the_suite_is_an_error_of_its_case_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    report, junit = tmp_path / "report.html", tmp_path / "junit.xml"
    args = ["check", "--adapter", "thirdparty.misfits:trace_usage_that_raises", "--cassettes", str(folder)]
    args += [
        "--snapshots",
        str(snapshots_for(tmp_path, folder)),
        "--report",
        str(report),
        "--junit",
        str(junit),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    header = next(line for line in err.splitlines() if "provider/API" in line)
    assert "error" in header.split()
    row = next(line for line in err.splitlines() if "openai/chat" in line and "│" in line)
    assert [cell.strip() for cell in row.split("│")[1:-1]].count("1") >= 1
    flat = " ".join(err.split())
    assert "ERROR openai/chat/text#0::traces: RuntimeError: usage field 'prompt_tokens' exploded" in flat
    assert "the suite crashed at" in flat and "misfits.py" in flat  # the frame it crashed in
    parsed = read_report(report)
    traces = [cell for cell in parsed.cells if cell["data-check"] == "traces"]
    assert len(traces) == 1 and traces[0]["class"] == "error"
    assert len(parsed.cells) == len(ITEMS)  # no blank cell
    page = "".join(parsed.text)
    assert "Traceback" in page and "battery.py" in page and "RuntimeError: usage field 'prompt_tokens' exploded" in page
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    crashed = [case for case in suite.iter("testcase") if "traces" in (case.get("name") or "")]
    failure = crashed[0].find("failure")
    assert failure is not None and "RuntimeError" in (failure.text or "")


def test_a_result_without_usage_fails_outcome_and_the_traces_check_judges_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cassettes(tmp_path, "openai/chat/text")
    args = ["check", "--adapter", "thirdparty.misfits:result_without_usage", "--cassettes", str(folder)]
    args += ["--snapshots", str(snapshots_for(tmp_path, folder))]
    assert main(args) == 1
    flat = " ".join(capsys.readouterr().err.split())
    assert "FAIL openai/chat/text#0::outcome: outcome.result: expected 'an LLMResult or a result dict'" in flat
    assert "::traces" not in flat  # judged (the trace itself is right), not crashed
    assert "Traceback" not in flat
