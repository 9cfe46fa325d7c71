"""The canonical stream model: what every adapter yields while streaming, and what it holds after.

Read this module first. Every wire format (OpenAI Chat Completions, OpenAI Responses, Anthropic
Messages) is translated into these few types, and everything downstream (traces, the conformance
oracle, snapshots, ``streamproof replay``) speaks only this vocabulary.

While streaming, an adapter yields ``StreamEvent``s:

- ``ReasoningDelta``    a piece of visible reasoning; its ``signature`` arrives as its own
                        ``ReasoningDelta`` (empty text) on the same ``block`` before the block ends,
                        never patched into an event that was already sent.
- ``HiddenReasoning``   a reasoning block the provider hid: ``redacted`` (opaque data) or ``omitted``.
- ``TextDelta``         a piece of assistant text.
- ``RefusalDelta``      a piece of a refusal (OpenAI's ``refusal`` channel).
- ``ToolCallDelta``     a piece of a tool call: ``index`` says which call; ``id`` and ``name`` are set
                        on the first delta of a call; ``arguments`` is the raw JSON fragment.
- ``ApprovalRequest``   the same shape as ``ToolCallDelta``, for a tool in ``requires_approval_tools``.
- ``StopReason``        why the response ended: normalized, plus the provider's own word.

All events of one response share ``message_id``; ``event_id`` is unique within the response.

``block`` (on ``ReasoningDelta`` and ``HiddenReasoning``) says which reasoning block a piece
belongs to, so that two blocks are never run together: Anthropic Messages, the content block's
``index`` in the message; OpenAI Responses, the reasoning item's ``output_index``; OpenAI Chat (and
compatible servers), always 0: the wire has one reasoning stream per choice. Tool calls have
``index`` instead: the call's position among the response's client tool calls, from 0.

After the call, ``LLMResult`` holds the whole outcome, including ``Usage``: ``None`` in a usage
field means "the provider did not report it", which is different from 0.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NormalizedStopReason = Literal[
    "end_turn",  # the model finished (OpenAI "stop", Anthropic "end_turn", Responses "completed")
    "max_tokens",  # output token limit reached
    "tool_calls",  # the model wants tools run
    "stop_sequence",  # a caller-supplied stop sequence matched
    "content_filter",  # the provider's filter cut the output
    "refusal",  # the model refused
    "pause_turn",  # Anthropic paused a long server-tool turn
    "context_window",  # the context window filled up (Anthropic model_context_window_exceeded)
    "other",  # anything else; the provider's own word is in provider_reason
]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str
    event_id: str


class ReasoningDelta(_Event):
    kind: Literal["reasoning"] = "reasoning"
    block: int = 0
    text: str = ""
    signature: str | None = None


class HiddenReasoning(_Event):
    kind: Literal["hidden_reasoning"] = "hidden_reasoning"
    block: int = 0
    state: Literal["redacted", "omitted"] = "redacted"
    data: str | None = None


class TextDelta(_Event):
    kind: Literal["text"] = "text"
    text: str


# The hottest object of every stream is built without running validation: by the code path below,
# for values the caller has already checked to be ``str``. It is the same object validation would
# build (tests/test_events.py compares them), at about half the cost (~0.8 us instead of ~1.4 us).
_new_object = object.__new__
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def trusted_text_delta(message_id: str, event_id: str, text: str) -> TextDelta:
    """``TextDelta(message_id=..., event_id=..., text=...)`` for arguments known to be ``str``."""
    event = _new_object(TextDelta)
    _set_dict(event, {"message_id": message_id, "event_id": event_id, "kind": "text", "text": text})
    _set_fields_set(event, {"message_id", "event_id", "text"})
    _set_extra(event, None)
    _set_private(event, None)
    return event


class RefusalDelta(_Event):
    kind: Literal["refusal"] = "refusal"
    text: str


class ToolCallDelta(_Event):
    kind: Literal["tool_call"] = "tool_call"
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ApprovalRequest(_Event):
    kind: Literal["approval_request"] = "approval_request"
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class StopReason(_Event):
    kind: Literal["stop"] = "stop"
    reason: NormalizedStopReason
    provider_reason: str | None = None


StreamEvent = Annotated[
    ReasoningDelta
    | HiddenReasoning
    | TextDelta
    | RefusalDelta
    | ToolCallDelta
    | ApprovalRequest
    | StopReason,
    Field(discriminator="kind"),
]


USAGE_COUNT_LIMIT = 2**63
"""Every usage count is an int in ``0 <= n < USAGE_COUNT_LIMIT``: what a signed 64-bit column (SQLite
INTEGER, ClickHouse Int64) stores. A count from the wire outside it is refused, not clamped: the
stream is malformed (``MalformedStreamError`` naming the field), since a clamped count would bill
a wrong number silently."""


class Usage(BaseModel):
    """Token usage of one LLM call (or, summed, of a run). ``None`` = not reported.

    Each count is an int (not a bool, float or numeric string) below ``USAGE_COUNT_LIMIT``.

    The counters are what the provider bills for the call. When a response reports per-iteration
    usage (Anthropic ``usage.iterations`` on compaction and advisor streams: one entry per model
    pass, ``compaction``, ``message``, ``advisor_message``), each token counter is the sum over ALL
    iterations; the top-level counters count only the final ``message`` passes and leave out the
    compaction and advisor work that is billed too (181 top-level vs 55,377 billed prompt tokens in
    one real compaction stream). ``reasoning_tokens`` stays the top-level count: iterations do not
    break it down.
    """

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int | None = None  # all input tokens, cached input included
    completion_tokens: int | None = None  # output tokens, reasoning included
    total_tokens: int | None = None
    cached_input_tokens: int | None = None  # input served from the prompt cache
    cache_write_tokens: int | None = None  # input written to the prompt cache
    reasoning_tokens: int | None = None
    step_count: int = 1

    def public_dict(self) -> dict[str, int | None]:
        """The six token fields of the ``replay --format json`` contract."""
        return self.model_dump(exclude={"step_count"})

    @field_validator("*", mode="before")
    @classmethod
    def _a_count(cls, value: object) -> object:
        if value is None or (type(value) is int and 0 <= value < USAGE_COUNT_LIMIT):
            return value
        raise ValueError("a usage count is a non-negative integer below 2**63")


class RunUsage:
    """Sums the usage of the steps of one run. A field stays ``None`` until some step reports it."""

    FIELDS = tuple(name for name in Usage.model_fields if name != "step_count")  # the token counters

    def __init__(self) -> None:
        self.usage = Usage(step_count=0)

    def add(self, step: Usage) -> Usage:
        current = self.usage
        summed: dict[str, int | None] = {}
        for name in self.FIELDS:
            a, b = getattr(current, name), getattr(step, name)
            summed[name] = a if b is None else (b if a is None else _saturated(a + b))
        self.usage = Usage(**summed, step_count=_saturated(current.step_count + step.step_count))
        return self.usage


def _saturated(total: int) -> int:
    # a run's sum stops at the limit rather than fail the step that crossed it (each step's own
    # counts were in range)
    return min(total, USAGE_COUNT_LIMIT - 1)


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: str  # exactly as streamed; parse with json.loads when needed
    requires_approval: bool = False  # the tool is in requires_approval_tools


class ReasoningBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = ""
    signature: str | None = None


class HiddenReasoningBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["redacted", "omitted"] = "redacted"
    data: str | None = None


class LLMResult(BaseModel):
    """Everything known about one LLM call once its response has been read."""

    model_config = ConfigDict(extra="forbid")

    message_id: str
    text: str = ""
    refusal: str | None = None
    reasoning: list[ReasoningBlock] = Field(default_factory=list)
    hidden_reasoning: list[HiddenReasoningBlock] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)  # client tool calls, in order of first delta
    usage: Usage = Field(default_factory=Usage)
    stop_reason: NormalizedStopReason | None = None
    provider_stop_reason: str | None = None
    model: str | None = None
    response_id: str | None = None
    ttft_ms: float | None = None
    latency_ms: float | None = None

    @property
    def reasoning_text(self) -> str:
        return "".join(block.text for block in self.reasoning)

    def contract_dict(self) -> dict[str, object]:
        """The ``result`` object of the ``streamproof replay --format json`` contract."""
        return {
            "text": self.text,
            "reasoning": self.reasoning_text,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in self.tool_calls],
            "usage": self.usage.public_dict(),
            "stop_reason": self.stop_reason,
            "provider_stop_reason": self.provider_stop_reason,
            "model": self.model,
            "response_id": self.response_id,
        }
