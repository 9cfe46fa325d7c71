"""What ``streamproof check`` prints, for a person and for a CI log: whole failure lines, a summary by
check, ids that rerun one case, ``--version``, subsets, and JUnit that CI tools can group."""

from __future__ import annotations

import html
import json
import re
import shutil
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name
from streamproof.conformance.protocol import ITEMS

DROPS = "thirdparty.broken:drops_last_text_delta"  # every text case fails outcome and snapshot


def folder_with(tmp_path: Path, *names: str) -> list[str]:
    """``--cassettes`` and ``--snapshots`` arguments for a copy of some bundled cassettes."""
    folder, snapshots = tmp_path / "cassettes", tmp_path / "snapshots" / "suite"
    snapshots.mkdir(parents=True)
    for name in names:
        target = folder / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", target)
    for case in discover_cases(folder):
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots)
    return ["--cassettes", str(folder), "--snapshots", str(snapshots.parent)]


def cases_of(junit: Path) -> list[ET.Element]:
    return list(ET.parse(junit).getroot().iter("testcase"))


def test_a_failure_line_is_whole_in_a_ci_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = folder_with(tmp_path, "openai/chat/long_text")
    assert main(["check", "--adapter", DROPS, *args]) == 1
    err = capsys.readouterr().err  # not a terminal, as in CI
    line = next(line for line in err.splitlines() if "long_text#0::outcome" in line)
    assert line.startswith("FAIL openai/chat/long_text#0::outcome: outcome.text: expected '")
    expected = line.split("expected '", 1)[1].split("', got '", 1)[0]
    got = line.split("', got '", 1)[1].rstrip("'")
    assert len(expected) > 160 and "..." not in line  # the verdict's message shortens at 160
    assert expected.startswith(got) and expected != got  # the whole field, the dropped delta visible
    assert "failures by check: outcome 1, snapshot 1" in err
    assert "HTML report" not in err  # none was written


def test_the_html_report_is_named_only_when_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = folder_with(tmp_path, "openai/chat/text")
    report = tmp_path / "r.html"
    assert main(["check", "--adapter", DROPS, *args, "--report", str(report)]) == 1
    assert report.exists() and f"HTML report: {report}" in capsys.readouterr().err


def test_version_is_the_installed_distribution(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"streamproof {version('streamproof')}"


def test_a_printed_id_reruns_exactly_that_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = folder_with(tmp_path, "openai/chat/text", "openai/chat/tool_call")
    assert main(["check", "--adapter", DROPS, *args]) == 1
    err = capsys.readouterr().err
    ids = [line.split()[1].rstrip(":") for line in err.splitlines() if line.startswith("FAIL ")]
    assert "openai/chat/text#0::outcome" in ids
    rerun = next(line for line in err.splitlines() if line.startswith("rerun one: "))
    assert f"--case {ids[0]}" in rerun or f"--case '{ids[0]}'" in rerun
    junit = tmp_path / "one.xml"
    assert main(["check", "--adapter", DROPS, *args, "--case", ids[0], "--junit", str(junit)]) == 1
    (only,) = cases_of(junit)
    case, check = ids[0].split("::")
    assert only.get("name") == f"test_conformance[{case.replace('/', '.')}-{check}]"


def test_case_globs_and_k_select_a_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = folder_with(tmp_path, "openai/chat/text", "anthropic/messages/text")
    junit = tmp_path / "subset.xml"
    assert main(["check", *args, "--case", "anthropic/*", "--junit", str(junit)]) == 0
    names = [case.get("name", "") for case in cases_of(junit)]
    assert len(names) == len(ITEMS) and all("anthropic.messages.text#0" in name for name in names)
    assert main(["check", *args, "--case", "*::faults", "--junit", str(junit)]) == 0
    names = [case.get("name", "") for case in cases_of(junit)]
    assert names and all("-faults[" in name for name in names)
    assert len(names) == 2 * sum(item.startswith("faults[") for item in ITEMS)
    assert main(["check", *args, "-k", "outcome", "--junit", str(junit)]) == 0
    assert sorted(case.get("name", "")[-9:] for case in cases_of(junit)) == ["-outcome]"] * 2
    capsys.readouterr()
    assert main(["check", *args, "--case", "google/*"]) == 2
    assert "nothing was checked: no case matches --case 'google/*'" in capsys.readouterr().err


def test_junit_groups_by_adapter_and_api_with_json_properties(tmp_path: Path) -> None:
    args = folder_with(tmp_path, "openai/chat/text", "openai/responses/text")
    junit = tmp_path / "check.xml"
    assert main(["check", "--adapter", DROPS, *args, "--junit", str(junit)]) == 1
    cases = cases_of(junit)
    assert {case.get("classname") for case in cases} == {
        f"{DROPS}::openai/chat",
        f"{DROPS}::openai/responses",
    }
    for case in cases:
        (prop,) = (p for p in case.iter("property") if p.get("name") == "streamproof")
        record = json.loads(prop.get("value", ""))
        assert record["case_id"] in case.get("name", "").replace(".", "/")
        assert case.get("classname", "").endswith(f"{record['provider']}/{record['api']}")


BUGGY = "thirdparty.stale:looks_up_a_missing_key"  # raises a KeyError of its own at the stream's end
WHERE = 'stale.py", line 25, in finish_the_stream'  # where, in tests/thirdparty/stale.py


def test_an_adapters_own_exception_shows_where_it_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--adapter", BUGGY, *folder_with(tmp_path, "openai/chat/text")]
    report = tmp_path / "r.html"
    assert main([*args, "--report", str(report)]) == 1
    err = capsys.readouterr().err
    outcome = err.split("FAIL openai/chat/text#0::outcome: ", 1)[1].splitlines()
    assert "KeyError: 'finish_reason'" in outcome[0]
    assert outcome[1].strip().startswith("the adapter raised at File") and WHERE in outcome[1]
    page = html.unescape(report.read_text(encoding="utf-8"))
    assert WHERE in page and 'state["finish_reason"] += 1' in page  # the frame's code too
    assert main([*args, "-v"]) == 1
    verbose = capsys.readouterr().err.split("FAIL openai/chat/text#0::outcome: ", 1)[1]
    frames = verbose.split("FAIL ", 1)[0]
    assert WHERE in frames and 'stale.py", line 21, in stream' in frames  # the last frames, in order
    assert frames.index("line 21, in stream") < frames.index("line 25, in finish_the_stream")


def test_a_gap_that_passes_is_stale_and_a_glob_that_matches_nothing_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--adapter", "thirdparty.stale:declares_what_it_does"]
    args += folder_with(tmp_path, "openai/chat/text")
    report = tmp_path / "r.html"
    assert main([*args, "--report", str(report)]) == 0  # stale, told: not a failure
    err = capsys.readouterr().err
    assert "XPASS openai/chat/text#0::chunking: stale known gap, the check passes: once split" in err
    assert "warning: known gap 'outcome:google/*': its case glob 'google/*' matches no case" in err
    header = next(line for line in err.splitlines() if "provider/API" in line).split()
    row = next(line for line in err.splitlines() if line.startswith("│ openai/chat")).split()
    assert row[header.index("xpass")] == "1"
    assert 'class="xpass" data-check="chunking"' in report.read_text(encoding="utf-8")


def test_the_report_opens_with_its_verdict_and_shows_the_events_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = folder_with(tmp_path, "openai/chat/long_text", "openai/chat/text")
    report = tmp_path / "r.html"
    assert main(["check", "--adapter", DROPS, *args, "--report", str(report)]) == 1
    page = report.read_text(encoding="utf-8")
    banner = page.split('<div class="banner failed">', 1)[1].split("</div></div>", 1)[0]
    assert "FAIL: 4 of" in banner and "4 fail" in banner
    assert f"streamproof {version('streamproof')}" in banner and f"openai {version('openai')}" in banner
    assert DROPS in banner and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", banner)
    # the failures are listed before the matrix, which has no adapter column
    assert page.index('<ol class="failures">') < page.index('<table class="matrix">')
    assert "<th>adapter</th>" not in page and '<th class="group" colspan' in page
    section = page.split('id="failure-2"', 1)[1].split("</section>", 1)[0]  # long_text's snapshot
    assert (
        "long_text#0 — snapshot" in section
        and "<th>expected (stored snapshot)</th><th>actual</th>" in section
    )
    differing = section.split('<tr class="differs">', 1)[1].split("</tr>", 1)[0]
    expected_cell, actual_cell = re.findall(r"<td>(.*?)</td>", differing)
    assert "&quot;kind&quot;: &quot;text&quot;" in expected_cell and "&quot;stop&quot;" in actual_cell
    assert re.search(r"… \d+ earlier events not shown", section)  # the window is cut, and says so


def test_a_passing_reports_verdict_counts_only_what_passed(tmp_path: Path) -> None:
    """Checks that did not apply are not "passed": the banner counts them apart."""
    args = folder_with(tmp_path, "openai/chat/text", "openai/chat/bad_key")
    report = tmp_path / "r.html"
    assert main(["check", *args, "--report", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    banner = page.split('<div class="banner passed">', 1)[1].split("</div></div>", 1)[0]
    passed, skipped = (int(re.search(rf"(\d+) {s}</span>", banner)[1]) for s in ("pass", "skip"))  # type: ignore[index]
    assert skipped > 0
    assert f"PASS: {passed} of {passed + skipped} checks passed, none failed ({skipped} did not apply)" in banner


def test_an_api_the_adapter_does_not_speak_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = folder_with(
        tmp_path, "openai/chat/text", "anthropic/messages/text", "anthropic/messages/tool_call"
    )
    report = tmp_path / "r.html"
    assert (
        main(
            [
                "check",
                "--adapter",
                "thirdparty.broken:declared_buffering_chat_only",
                *args,
                "--report",
                str(report),
            ]
        )
        == 0
    )
    page = report.read_text(encoding="utf-8")
    messages = page.split(">anthropic/messages</th></tr>", 1)[1].split("</tbody>", 1)[0]
    assert "data-check" not in messages  # no row of skipped cells
    assert f"2 scenarios, {2 * len(ITEMS)} checks skipped: the adapter does not speak messages" in messages
    assert 'data-check="outcome"' in page.split(">openai/chat</th></tr>", 1)[1]


def test_long_column_heads_break_between_syllables() -> None:
    from streamproof.conformance.report import _header

    assert _header("faults[unavailable]") == "faults<br>un&shy;avail&shy;able"
    assert _header("streaming") == "stream&shy;ing"
    assert _header("outcome") == "outcome"
    assert _header("faults[verylongword]") == "faults<br>verylo&shy;ngword"  # no syllables known: the middle


def test_request_warnings_are_told_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["check", "--adapter", "thirdparty.misfits:adds_reasoning_effort", *folder_with(tmp_path, "openai/chat/text")]
    assert main([*args, "--case", "*::request"]) == 0  # an addition is a warning, not a failure
    flat = " ".join(capsys.readouterr().err.split())
    assert 'warning openai/chat/text#0::request: request.reasoning_effort: added by the adapter ("low")' in flat
