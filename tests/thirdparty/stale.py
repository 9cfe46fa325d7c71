"""Third-party adapters for what the summary tells beyond pass and fail: an adapter whose own code
raises (where it raised must show), and declared gaps that no longer hold or match no case."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

from streamproof.conformance.protocol import ConformanceCall
from streamproof.conformance.reference import ReferenceAdapter


class LooksUpAMissingKey(ReferenceAdapter):
    """Streams the reference's events, then fails in its own code with a KeyError at the end."""

    name = "looks-up-a-missing-key"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        async for event in super().stream(call):
            yield event
        finish_the_stream({})


def finish_the_stream(state: dict[str, Any]) -> None:
    state["finish_reason"] += 1  # the adapter's bug: the key was never set


class DeclaresWhatItDoes(ReferenceAdapter):
    """The reference, declaring gaps it does not have: one on a check it passes, one on no case."""

    name = "declares-what-it-does"
    known_gaps: Mapping[str, str] = {
        "chunking:openai/chat/text#0": "once split deltas apart (fixed since)",
        "outcome:google/*": "a provider the cassettes do not have",
    }


def looks_up_a_missing_key() -> LooksUpAMissingKey:
    return LooksUpAMissingKey()


def declares_what_it_does() -> DeclaresWhatItDoes:
    return DeclaresWhatItDoes()
