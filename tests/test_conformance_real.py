"""The reference stack passes the battery on the bundled cassettes and on real provider recordings
(../shared/real-cassettes; skipped when that folder is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from thirdparty.sdk_adapter import SDKAdapter

from streamproof.conformance.battery import Battery, Case, discover_cases, first_difference
from streamproof.conformance.plugin import bundled_cassettes, known_gap
from streamproof.conformance.protocol import CHECKS, load_adapter
from streamproof.conformance.reference import ReferenceAdapter

REAL = Path(__file__).parents[1].parent / "shared" / "real-cassettes"
# checks that share the one plain run per case, cheap enough for every real interaction
PLAIN_RUN_CHECKS = ("outcome", "traces", "request")
FULL_BATTERY_SAMPLE = 12  # real cases that get all eight checks (the smallest bodies, one per cassette)


@pytest.fixture(scope="module")
def real_cases() -> list[Case]:
    if not REAL.is_dir():
        pytest.skip("../shared/real-cassettes is not present")
    cases: list[Case] = discover_cases(REAL)
    assert len(cases) > 80, "the developer set of real cassettes has over eighty streamed interactions"
    return cases


async def verdict_failures(cases: list[Case], checks: tuple[str, ...]) -> list[str]:
    adapter = ReferenceAdapter()
    failures = []
    for case in cases:
        battery = Battery(adapter, case)
        for check in checks:
            verdict = await battery.run(check)
            gap = known_gap(adapter.known_gaps, case, check)
            if verdict.status == "fail" and gap is None:
                failures.append(f"{case.id} {check}: {verdict.message}")
    return failures


async def test_the_reference_matches_the_oracle_on_every_real_interaction(real_cases: list[Case]) -> None:
    assert await verdict_failures(real_cases, PLAIN_RUN_CHECKS) == []


async def test_the_reference_passes_the_whole_battery_on_a_sample_of_real_interactions(
    real_cases: list[Case],
) -> None:
    smallest: dict[Path, Case] = {}
    for case in sorted(real_cases, key=lambda c: len(c.interaction.response.body)):
        smallest.setdefault(case.cassette.parent, case)  # one per provider folder: all three APIs appear
    sample = list(smallest.values())[:FULL_BATTERY_SAMPLE]
    assert {case.api for case in sample} == {"chat", "responses", "messages"}
    assert await verdict_failures(sample, CHECKS) == []


async def test_the_reference_passes_every_check_on_the_bundled_cassettes() -> None:
    cases = discover_cases(bundled_cassettes())
    assert {case.api for case in cases} == {"chat", "responses", "messages"}
    assert await verdict_failures(cases, tuple(check for check in CHECKS if check != "snapshot")) == []


def test_the_default_adapter_is_the_reference_stack() -> None:
    adapter = load_adapter("streamproof.conformance.reference:factory")
    assert isinstance(adapter, ReferenceAdapter) and adapter.known_gaps == {}


async def test_a_correct_third_party_adapter_yields_the_reference_events_on_every_real_interaction(
    real_cases: list[Case],
) -> None:
    """Why one snapshot serves every adapter: two independent correct adapters agree event by event."""
    differences = []
    for case in real_cases:
        reference = await Battery(ReferenceAdapter(), case).plain_run()
        third_party = await Battery(SDKAdapter(), case).plain_run()
        difference = first_difference(reference.events, third_party.events, "events")
        if difference is not None:
            differences.append(f"{case.id}: {difference}")
    assert differences == []
