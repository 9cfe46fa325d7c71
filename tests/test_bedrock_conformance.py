"""The battery on Anthropic Messages over Bedrock: the request check on Bedrock bodies (the model
and the stream in the URL's path, ``anthropic_version``), the format found by provider, which
adapters it applies to, and the bundled Bedrock cassettes through the reference and through the
anthropic SDK's own ``AsyncAnthropicBedrock`` stream (tests/thirdparty)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from thirdparty.sdk_adapter import SDKAdapter

from streamproof.cli.main import main
from streamproof.conformance.battery import Battery, Case, discover_cases
from streamproof.conformance.formats import suite_format
from streamproof.conformance.libraries.litellm import LiteLLMAdapter
from streamproof.conformance.plugin import bundled_cassettes, known_gap
from streamproof.conformance.protocol import ITEMS
from streamproof.conformance.reference import ReferenceAdapter
from streamproof.conformance.request_check import compare_requests

STREAMED = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}


def compare(sent: dict[str, object], url: str = STREAMED) -> tuple[list[str], list[str]]:
    result = compare_requests("bedrock_messages", BODY, sent, recorded_url=STREAMED, sent_url=url)
    return [path for path, _, _ in result.differences], result.warnings


def test_the_same_bedrock_request_passes() -> None:
    decoded = STREAMED.replace("%3A", ":")  # the model id URL-encoded or not
    assert compare(dict(BODY), decoded) == ([], [])


def test_the_model_and_the_stream_are_read_from_the_path() -> None:
    other_model = STREAMED.replace("sonnet-4-5", "haiku-4-5")
    assert compare(dict(BODY), other_model)[0] == ["request.model"]
    not_streamed = STREAMED.removesuffix("-with-response-stream")
    assert compare(dict(BODY), not_streamed)[0] == ["request.stream"]


def test_anthropic_version_must_be_sent_and_another_value_is_a_warning() -> None:
    missing = {k: v for k, v in BODY.items() if k != "anthropic_version"}
    assert compare(missing)[0] == ["request.anthropic_version"]
    differences, warnings = compare({**BODY, "anthropic_version": "2026-10-21"})
    assert differences == [] and warnings == [
        'request.anthropic_version: "2026-10-21", the recording has "bedrock-2023-05-31"'
    ]


def test_a_bedrock_case_is_its_own_format_by_provider() -> None:
    assert suite_format("messages", "bedrock").name == "bedrock_messages"
    assert suite_format("messages", "anthropic").name == "anthropic_messages"
    wire = suite_format("messages", "bedrock")
    assert wire.model({}, STREAMED) == "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert wire.asks_stream({}, STREAMED) and not wire.asks_stream(
        {"stream": True}, STREAMED[: -len("-with-response-stream")]
    )
    assert wire.base_url(STREAMED) == "https://bedrock-runtime.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def bedrock_cases() -> list[Case]:
    cases = [case for case in discover_cases(bundled_cassettes()) if case.provider == "bedrock"]
    assert len(cases) == 13, [case.id for case in cases]
    assert all(case.api == "messages" and case.format.name == "bedrock_messages" for case in cases)
    return cases


async def test_an_adapter_that_speaks_only_anthropic_messages_skips_bedrock(
    bedrock_cases: list[Case],
) -> None:
    verdict = await Battery(LiteLLMAdapter(), bedrock_cases[0]).run("outcome")
    assert (verdict.status, verdict.message) == ("skip", "the adapter does not speak bedrock_messages")


@pytest.mark.parametrize("adapter", [ReferenceAdapter, SDKAdapter], ids=["reference", "sdk"])
async def test_every_check_passes_on_the_bundled_bedrock_cassettes(
    adapter: type, bedrock_cases: list[Case]
) -> None:
    """Every item passes or does not apply, but for a gap the adapter declares (the SDK's decoder
    skips a chunk it cannot parse: the malformed_chunk fault goes unnoticed)."""
    judged = 0
    for case in bedrock_cases:
        battery = Battery(adapter(), case)
        for item in ITEMS:
            verdict = await battery.run(item)
            gap = known_gap(battery.adapter.known_gaps, case, item)
            if gap is not None and verdict.status == "fail":
                assert item == "faults[malformed_chunk]", (case.id, item)
                continue
            assert verdict.status in ("pass", "skip"), f"{case.id} {item}: {verdict.message}"
            judged += item == "faults[mid_stream_error]" and verdict.status == "pass"
            if item == "outcome":
                assert verdict.status == "pass", f"{case.id}: {verdict.message}"
    assert judged == 10  # every streamed case: the exception frames of every style were judged


def test_replay_json_of_a_bedrock_cassette_is_the_anthropic_contract(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = {}
    for provider in ("bedrock", "anthropic"):
        assert (
            main(
                [
                    "replay",
                    "--format",
                    "json",
                    str(bundled_cassettes() / provider / "messages" / "tool_call.yaml"),
                ]
            )
            == 0
        )
        lines[provider] = json.loads(capsys.readouterr().out.splitlines()[0])
    bedrock, first_party = lines["bedrock"], lines["anthropic"]
    assert (bedrock["provider"], bedrock["api"]) == ("bedrock", "messages")
    assert set(bedrock) == set(first_party) and set(bedrock["result"]) == set(first_party["result"])
    assert bedrock["streamed"] is True and bedrock["error"] is None
    # the same scenario from the two services: the same outcome, ids and model aside
    ids = ("model", "response_id")
    same = {k: v for k, v in bedrock["result"].items() if k not in ids}
    assert same == {k: v for k, v in first_party["result"].items() if k not in ids} | {
        "tool_calls": [
            {**first_party["result"]["tool_calls"][0], "id": bedrock["result"]["tool_calls"][0]["id"]}
        ]
    }
    assert bedrock["result"]["model"] == "anthropic.claude-sonnet-4-5-20250929-v1:0"  # from the URL's path


def test_streamproof_check_passes_on_the_bundled_bedrock_cassettes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "-k", "bedrock", "--junit", str(tmp_path / "junit.xml")]) == 0
    err = capsys.readouterr().err
    assert "bedrock/messages" in err and "182" in err  # 13 cases: every applicable item passed
