"""The conformance test the plugin parametrizes: one item per cassette case × check.

Collected only when ``--streamproof-adapter`` or ``--streamproof-cassettes`` is given (the plugin
adds this file to the run) or when a test module of your own requests the ``streamproof_case``
fixture. Each item runs one check of the battery; the snapshot check compares the canonical event
sequence with syrupy (``--snapshot-update`` writes or refreshes the snapshots).

pytest imports this file by its path (under whatever package name its folders give), so it
imports the rest of streamproof absolutely.
"""

from __future__ import annotations

import warnings

import pytest
from syrupy.assertion import SnapshotAssertion

from streamproof.conformance.battery import Case, ConformanceWarning, coalesced, snapshot_data
from streamproof.conformance.plugin import (
    SuiteCase,
    run_case_check,
    snapshot_extension,
    snapshot_mismatch,
    stored_snapshot,
    suite_adapter,
)


def test_conformance(
    streamproof_case: SuiteCase, snapshot: SnapshotAssertion, request: pytest.FixtureRequest
) -> None:
    verdict = run_case_check(request.config, streamproof_case, request.node)
    for warning in verdict.warnings:  # what the adapter added to the request: told, not failed
        warnings.warn(ConformanceWarning(f"{streamproof_case.case.id}: {warning}"), stacklevel=1)
    if verdict.status == "skip":
        pytest.skip(verdict.message)
    if verdict.status == "xfail":  # only fields the adapter declared known gaps differ
        pytest.xfail(verdict.message)
    assert verdict.status == "pass", verdict.message
    if streamproof_case.check == "snapshot":
        case = streamproof_case.case
        assert isinstance(case, Case), "a broken cassette has only its load check"
        data = snapshot_data(case, verdict)
        updating = request.config.getoption("update_snapshots", False)
        if suite_adapter(request.config).capabilities.coalesced_deltas and not updating:
            # the library re-splits deltas: compared with adjacent deltas of one kind and block merged
            stored = stored_snapshot(request.config, case)
            if stored is None or coalesced(stored.get("events", [])) != coalesced(data["events"]):
                difference = snapshot_mismatch(
                    request.config, request.node, case, data, normalize=coalesced
                )
                pytest.fail(f"the events (coalesced) differ from the stored snapshot: {difference}")
            return
        if snapshot(extension_class=snapshot_extension(request.config)) != data:
            difference = snapshot_mismatch(request.config, request.node, case, data)
            pytest.fail(f"the events differ from the stored snapshot: {difference}")
