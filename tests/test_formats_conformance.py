"""The conformance layer's one home per wire format: the oracle's readers, the request layouts and
the suite's per-format table found by format name; the checks found in a registry; no import
circle between the plugin and the report."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from thirdparty.sdk_adapter import SDKAdapter

from streamproof.conformance.battery import Battery, Verdict, discover_cases
from streamproof.conformance.checks import CHECK_REGISTRY, Check
from streamproof.conformance.formats import SUITE_FORMATS, format_name
from streamproof.conformance.oracle import READERS, expected_for
from streamproof.conformance.plugin import bundled_cassettes
from streamproof.conformance.protocol import CHECKS
from streamproof.conformance.request_check import REQUEST_FORMATS, canonical_request

CONFORMANCE = Path(__file__).parents[1] / "conformance"
FORMAT_NAMES = {"openai_chat", "openai_responses", "anthropic_messages"}


def test_every_layer_of_the_suite_knows_the_formats_by_the_shared_names() -> None:
    assert set(READERS) >= FORMAT_NAMES
    assert set(REQUEST_FORMATS) == set(READERS) == set(SUITE_FORMATS)
    assert {name: SUITE_FORMATS[name].api for name in FORMAT_NAMES} == {
        "openai_chat": "chat",
        "openai_responses": "responses",
        "anthropic_messages": "messages",
    }
    # compatible providers of an api share its format
    assert format_name("chat", "groq") == format_name("chat") == "openai_chat"
    assert format_name("messages", "minimax") == "anthropic_messages"
    with pytest.raises(ValueError, match="no wire format speaks api 'other'"):
        format_name("other")


def test_the_oracle_reads_by_the_format_of_the_api_and_provider() -> None:
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    expected = expected_for("messages", 200, body, provider="minimax")
    assert (expected.text, expected.stop_reason, expected.usage["total_tokens"]) == ("Hi", "end_turn", 4)
    assert expected_for("messages", 200, body[: body.rindex(b"event: message_stop")]).error == (
        "LLMIncompleteStreamError"
    )


def test_a_request_is_canonical_by_its_format_name_or_its_api_word() -> None:
    chat = {
        "model": "m",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_completion_tokens": 9,
    }
    by_name = canonical_request("openai_chat", chat)
    assert by_name == canonical_request("chat", chat)
    assert by_name["system"] == [{"type": "text", "text": "Be brief."}]
    assert by_name["max_tokens"] == 9
    # the same body read as Anthropic's: a system message is a message there
    assert len(canonical_request("anthropic_messages", chat)["messages"]) == 2


async def test_the_battery_finds_its_checks_in_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tuple(CHECK_REGISTRY) and set(CHECK_REGISTRY) == set(CHECKS)
    case = next(c for c in discover_cases(bundled_cassettes()) if c.id == "openai/chat/text#0")
    seen: list[str | None] = []

    async def judge(runs: object, kind: str | None) -> Verdict:
        seen.append(kind)
        return Verdict("outcome", "pass", "judged by the registered check")

    monkeypatch.setitem(CHECK_REGISTRY, "outcome", Check("outcome", judge))
    battery = Battery(SDKAdapter(), case)
    verdict = await battery.run("outcome")
    assert verdict.message == "judged by the registered check" and seen == [None]


async def test_a_registered_condition_says_why_a_check_does_not_apply() -> None:
    error_case = next(c for c in discover_cases(bundled_cassettes()) if c.id == "openai/chat/bad_key#0")
    battery = Battery(SDKAdapter(), error_case)
    assert (
        CHECK_REGISTRY["chunking"].not_applicable(battery)
        == "the recorded response is not a successful stream"
    )
    assert (await battery.run("faults[stall]")).status == "skip"


def _compares_api_with_a_word(tree: ast.AST) -> list[str]:
    """``x.api == "messages"``-style comparisons (format branches that belong in a table)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            names = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == "api"]
            names += [s for s in sides if isinstance(s, ast.Name) and s.id == "api"]
            words = [s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)]
            if names and words:
                found.append(ast.unparse(node))
    return found


def test_the_battery_has_no_branch_on_the_api_word() -> None:
    sources = [
        CONFORMANCE / "battery.py",
        CONFORMANCE / "runs.py",
        *sorted((CONFORMANCE / "checks").glob("*.py")),
    ]
    branches = {path.name: _compares_api_with_a_word(ast.parse(path.read_text())) for path in sources}
    assert not {name: found for name, found in branches.items() if found}
    text = "\n".join(path.read_text() for path in sources)
    assert "API_KEYS" not in text and "_API_SUFFIX" not in text


def _conformance_imports(path: Path) -> set[str]:
    """The conformance modules ``path`` imports anywhere in it (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update(alias.name for alias in node.names)
    return names


def test_the_report_does_not_import_the_plugin_that_writes_it() -> None:
    assert "plugin" not in _conformance_imports(CONFORMANCE / "report.py")
    assert "plugin" not in _conformance_imports(CONFORMANCE / "records.py")
    assert "report" in _conformance_imports(CONFORMANCE / "plugin.py")  # one way: the plugin writes it
