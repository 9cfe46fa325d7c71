"""``snapshot``: the canonical event sequence (ids and times normalized) equals the stored snapshot;
the comparison is syrupy's, in the pytest plugin (``suite.py``): this check gives the run's events,
``snapshot_data`` what is stored, ``coalesced`` the comparison for an adapter that re-splits deltas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runs import _TOOL_KINDS, Case, CaseRuns, Difference, Verdict, with_empty_arguments
from .registry import register


@register("snapshot")
async def check_snapshot_run(runs: CaseRuns, _kind: str | None) -> Verdict:
    """The run whose events the snapshot compares; the comparison itself is syrupy's."""
    run = await runs.plain_run()
    if run.timed_out or run.invalid_event:
        return runs.verdict("snapshot", Difference("events", "a complete run", "no complete run"), run)
    aliases = runs.expected.equivalent_signatures  # another copy of a signature stands for it
    events = [
        {**event, "signature": aliases[event["signature"]]} if event.get("signature") in aliases else event
        for event in run.events
    ]
    return Verdict("snapshot", "pass", "events captured", events=events)


def snapshot_data(case: Case, verdict: Verdict) -> dict[str, Any]:
    """What the snapshot stores: the case and its canonical events (no ids, no times), normalized
    by ``with_empty_arguments`` and ``blocks_in_order``."""
    events = blocks_in_order(with_empty_arguments(verdict.events))
    return {"case": case.id, "provider": case.provider, "api": case.api, "events": events}


def blocks_in_order(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reasoning blocks numbered 0, 1, ... in order of first appearance: ``block`` says which
    pieces belong together, and a library that numbers its own parts (pydantic-ai counts a server
    tool's call and return as parts) groups them as well as one that passes the wire's index on."""
    labels: dict[Any, int] = {}
    out = []
    for event in events:
        if "block" in event and event.get("kind") in ("reasoning", "hidden_reasoning"):
            event = {**event, "block": labels.setdefault(event["block"], len(labels))}
        out.append(event)
    return out


def coalesced(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adjacent deltas of one kind and block (tool call) merged into one: texts and arguments
    joined, the first id and name and the last signature kept. For adapters whose library
    re-splits deltas (``Capabilities.coalesced_deltas``)."""
    out: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("kind")
        previous = out[-1] if out else None
        same = (
            previous is not None
            and previous.get("kind") == kind
            and kind in ("text", "refusal", "reasoning", *_TOOL_KINDS)
            and previous.get("block") == event.get("block")
            and previous.get("index") == event.get("index")
            and not (kind == "reasoning" and previous.get("signature"))  # a signature ends its block's piece
        )
        if not same or previous is None:
            out.append(dict(event))
            continue
        if kind in _TOOL_KINDS:
            previous["arguments"] = (previous.get("arguments") or "") + (event.get("arguments") or "")
            previous["id"] = previous.get("id") or event.get("id")
            previous["name"] = previous.get("name") or event.get("name")
        else:
            previous["text"] = (previous.get("text") or "") + (event.get("text") or "")
            if event.get("signature"):
                previous["signature"] = event["signature"]
    return out
