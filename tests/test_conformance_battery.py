"""The battery proves its own power: the correct third-party adapter passes every check, and each
broken one (one realistic bug) fails exactly the checks that name its bug."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from synthetic_cases import bug_cases
from thirdparty.broken import BUGS
from thirdparty.sdk_adapter import SDKAdapter

from streamproof.adapters.errors import LLMError
from streamproof.conformance.battery import (
    Battery,
    Case,
    Verdict,
    discover_cases,
    first_difference,
    snapshot_data,
)
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes
from streamproof.conformance.protocol import ITEMS, ConformanceAdapter, ConformanceCall
from streamproof.conformance.reference import ReferenceAdapter
from streamproof.conformance.transport import CaseTransport, intercept_pools
from streamproof.harness.served import served_from_interaction

# one case per bug family: thinking with a signature, cached tokens, parallel tool calls, Responses
CASE_IDS = (
    "anthropic/messages/reasoning#0",
    "anthropic/messages/prompt_caching#0",
    "openai/chat/parallel_tool_calls#0",
    "openai/responses/text#0",
)


SYNTHETIC_ROOT = Path("/synthetic")  # where synthetic_cases puts its cases

# the bugs all show on these three (the Responses case adds nothing to them, so it is left out there)
BUG_CASE_IDS = CASE_IDS[:3]


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    by_id = {case.id: case for case in discover_cases(bundled_cassettes())}
    missing = [case_id for case_id in CASE_IDS if case_id not in by_id]
    assert not missing, f"bundled cassettes lack {missing}"
    return [by_id[case_id] for case_id in CASE_IDS]


def stored_snapshot(case: Case) -> Any:
    path = SHIPPED_SNAPSHOTS / "suite" / f"test_conformance[{case.id.replace('/', '.')}-snapshot].json"
    return json.loads(path.read_text(encoding="utf-8"))


async def failing_checks(adapter: ConformanceAdapter, cases: list[Case]) -> dict[str, list[str]]:
    """item (check, or faults[kind]) -> the messages of its failures, over every case (the snapshot
    compared as the plugin does: with the shipped one, or for a synthetic case the reference's)."""
    failures: dict[str, list[str]] = {}
    for case in cases:
        battery = Battery(adapter, case)
        for check in ITEMS:
            verdict: Verdict = await battery.run(check)
            if verdict.status == "pass" and check == "snapshot":
                if case.root == SYNTHETIC_ROOT:
                    stored = snapshot_data(case, await Battery(ReferenceAdapter(), case).run("snapshot"))
                else:
                    stored = stored_snapshot(case)
                difference = first_difference(stored, snapshot_data(case, verdict), "snapshot")
                if difference is not None:
                    failures.setdefault(check, []).append(f"{case.id}: {difference}")
            elif verdict.status == "fail":
                failures.setdefault(check, []).append(f"{case.id}: {verdict.message}")
    return failures


async def test_the_correct_third_party_adapter_passes_every_check(cases: list[Case]) -> None:
    assert await failing_checks(SDKAdapter(), cases) == {}


@pytest.mark.parametrize("bug", sorted(BUGS))
async def test_each_broken_adapter_fails_the_check_that_names_its_bug(bug: str, cases: list[Case]) -> None:
    """On the bundled cases and the synthetic ones that show what the bundled set cannot (a cache
    write, two signed Responses reasoning items out of id order, index-less whole tool calls)."""
    adapter_class, catching_checks = BUGS[bug]
    bundled = [case for case in cases if case.id in BUG_CASE_IDS]
    failures = await failing_checks(adapter_class(), bundled + bug_cases())
    assert set(failures) == catching_checks, failures


async def test_the_correct_adapters_pass_every_check_on_the_synthetic_bug_cases() -> None:
    assert await failing_checks(SDKAdapter(), bug_cases()) == {}
    assert await failing_checks(ReferenceAdapter(), bug_cases()) == {}


async def test_a_failure_names_the_first_differing_field(cases: list[Case]) -> None:
    adapter_class, _ = BUGS["ignores_cached_tokens"]
    verdict = await Battery(adapter_class(), cases[1]).run("outcome")
    assert verdict.status == "fail"
    assert verdict.difference is not None
    assert verdict.difference.path == "outcome.usage.cached_input_tokens"
    assert verdict.difference.expected == 1408 and verdict.difference.actual is None


async def test_a_failure_names_the_first_differing_event(cases: list[Case]) -> None:
    adapter_class, _ = BUGS["loses_thinking_signature"]
    reference = await Battery(SDKAdapter(), cases[0]).plain_run()
    verdict = await Battery(adapter_class(), cases[0]).run("outcome")
    assert verdict.difference is not None and verdict.difference.path == "outcome.signatures[0]"
    signed = next(n for n, event in enumerate(reference.events) if event.get("signature"))
    difference = first_difference(reference.events, verdict.events, "events")
    assert difference is not None and difference.path.startswith(f"events[{signed}]")


async def test_checks_that_do_not_apply_are_skipped_with_a_reason() -> None:
    error_case = next(
        case for case in discover_cases(bundled_cassettes()) if case.id == "openai/chat/bad_key#0"
    )
    battery = Battery(SDKAdapter(), error_case)
    outcome = await battery.run("outcome")
    assert outcome.status == "pass", outcome.message  # the error class is the expected outcome
    streaming = await battery.run("streaming")
    assert streaming.status == "skip" and "not a successful stream" in streaming.message


def _imports(path: Path, package: str) -> set[str]:
    """The absolute names of the modules ``path`` (a module of ``package``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def test_the_oracle_imports_nothing_of_the_reference_adapter() -> None:
    """Every module of the oracle package, and the streamproof modules it reaches, import nothing
    of streamproof.adapters (formats, providers, framing): the yardstick reads the bytes alone."""
    root = Path(__file__).parents[1]
    oracle = sorted((root / "conformance" / "oracle").glob("*.py"))
    assert {path.stem for path in oracle} >= {"__init__", "base", "openai_chat", "anthropic_messages"}
    seen: set[str] = set()
    todo = [f"streamproof.conformance.oracle.{path.stem}".removesuffix(".__init__") for path in oracle]
    reached: set[str] = set()
    while todo:  # through the oracle's own modules and the conformance modules they import
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        where = root.joinpath(*module.split(".")[1:])
        path, package = (
            (where / "__init__.py", module)
            if where.is_dir()
            else (where.with_suffix(".py"), module.rsplit(".", 1)[0])
        )
        for name in _imports(path, package):
            if name.startswith("streamproof."):
                reached.add(name)
                if name.startswith("streamproof.conformance."):
                    todo.append(name)
    assert not [name for name in reached if name.startswith("streamproof.adapters")], reached
    outside = {name for name in reached if not name.startswith("streamproof.conformance.oracle")}
    assert outside == {"streamproof.harness.cassette", "streamproof.conformance.formats"}


class SelfBuiltClientAdapter(SDKAdapter):
    """Ignores the client the suite hands over and lets the SDK build its own, as many libraries do."""

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        call.http_client = httpx2.AsyncClient()
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("the suite opened a socket")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


async def test_clients_a_library_builds_itself_are_served_from_the_cassette(
    cases: list[Case], no_network: None
) -> None:
    for case in cases:
        verdict = await Battery(SelfBuiltClientAdapter(), case).run("outcome")
        assert verdict.status == "pass", verdict.message


async def test_legacy_httpx_clients_are_intercepted_too(cases: list[Case], no_network: None) -> None:
    served = served_from_interaction(cases[0].interaction, recorded_timing=False)
    transport = CaseTransport(served)
    with intercept_pools(transport):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                cases[0].interaction.request.uri, json={"model": "m", "stream": True}
            )
    assert response.status_code == 200 and response.content == served.body
    assert transport.requests[0].body == {"model": "m", "stream": True}


class UnreadableResultAdapter(SDKAdapter):
    """Hands over a result of the wrong shape."""

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event
        call.set_result({"text": ["not", "a", "string"]})


async def test_a_result_of_the_wrong_shape_fails_the_outcome_naming_the_problem(cases: list[Case]) -> None:
    verdict = await Battery(UnreadableResultAdapter(), cases[0]).run("outcome")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.path == "outcome.result" and "'text'" in str(verdict.difference.actual)


class HangsOnErrors(SDKAdapter):
    """Waits for a retry that never comes when the provider reports an error."""

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        try:
            async with contextlib.aclosing(super().stream(call)) as events:
                async for event in events:
                    yield event
        except LLMError:
            await asyncio.Event().wait()  # the bug: a wait with no timeout
            raise


async def test_a_hanging_adapter_fails_the_faults_check_instead_of_hanging_the_suite(
    cases: list[Case],
) -> None:
    started = time.perf_counter()
    verdict = await Battery(HangsOnErrors(), cases[0], deadline_s=0.3).run("faults")
    assert verdict.status == "fail" and verdict.difference is not None
    assert verdict.difference.actual == "no outcome: the call hung"
    assert time.perf_counter() - started < 5
