"""What a scenario is made of, apart from any wire format: the request it sends (``RequestShape``)
and what the emulator answers (a ``Reply`` of output blocks, stop and usage, or a ``Failure``).
Each format renders them in its own shape (``harness/formats/<name>.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Reasoning:
    text: str  # Anthropic thinking / Responses reasoning summary
    signature: str  # Anthropic signature / Responses encrypted_content


@dataclass(frozen=True)
class RedactedReasoning:
    data: str  # opaque, delivered whole


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Refusal:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    arguments: str  # the JSON text exactly as streamed


Block = Reasoning | RedactedReasoning | Text | Refusal | ToolUse
Stop = Literal["end", "tool_use", "max_tokens", "refusal"]


@dataclass(frozen=True)
class ScriptUsage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    stop: Stop
    usage: ScriptUsage


FailureKind = Literal["bad_key", "unknown_model", "context_overflow"]


@dataclass(frozen=True)
class Failure:
    kind: FailureKind


Answer = Reply | Failure



@dataclass(frozen=True)
class RequestShape:
    """Provider-neutral description of a scenario's request."""

    prompt: str
    system: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    force_tool: bool = False
    parallel: bool = True
    max_tokens: int = 1024
    reasoning: bool = False
    cache_system: bool = False
