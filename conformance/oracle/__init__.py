"""The expected outcome of one recorded interaction, computed from the recorded bytes alone.

One reader per wire format (``READERS``, by the format's name: ``oracle/<name>.py``), sharing the
expected outcome, the error rules and SSE splitting (``oracle/base.py``). The oracle is written
apart from the reference adapter and imports nothing of ``streamproof.adapters`` (a test guards
this), so that when the two disagree the disagreement shows up as a failed check.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...harness.cassette import Interaction
from ..formats import format_name
from .anthropic_messages import MessagesReader
from .base import USAGE_FIELDS, Expected, Reader, SSEReader, StreamError, error_class_for, sse_events
from .bedrock_messages import BedrockMessagesReader
from .openai_chat import ChatReader
from .openai_responses import ResponsesReader

__all__ = [
    "READERS",
    "USAGE_FIELDS",
    "Expected",
    "Reader",
    "SSEReader",
    "error_class_for",
    "expected_for",
    "expected_outcome",
    "sse_events",
]

READERS: dict[str, type[Reader]] = {
    "openai_chat": ChatReader,
    "openai_responses": ResponsesReader,
    "anthropic_messages": MessagesReader,
    "bedrock_messages": BedrockMessagesReader,
}


def expected_outcome(interaction: Interaction) -> Expected:
    """The oracle's answer for one recorded interaction of any format of ``READERS``."""
    response = interaction.response
    return expected_for(
        interaction.api,
        response.status,
        response.body,
        provider=interaction.provider,
        headers=response.headers,
    )


def expected_for(
    api: str,
    status: int,
    body: bytes,
    *,
    provider: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Expected:
    """The oracle's answer for a response of ``api`` (from ``provider``, which can tell the
    format apart) with this status, headers and (decoded) body."""
    reader = READERS[format_name(api, provider)]()
    if status >= 400:
        return Expected(error=reader.http_error(status, headers or {}, body))
    try:
        return reader.read_body(body)
    except StreamError as failure:
        return Expected(error=failure.error_class)
