"""``ProviderTrace``: the record of exactly one LLM call — success, error or cancellation.

Who fills what:

- the caller describes the call with a ``TraceContext`` (step/agent/run/org/user ids, agent tags,
  call type, billing context) and hands it to the adapter;
- the adapter, once the call is over, builds one ``ProviderTrace`` with ``ProviderTrace.from_context``
  adding the request and response JSON, the ``TraceLLMConfig``, usage, timing, outcome, and hands it
  to a ``TraceWriter`` (``streamproof.adapters.traces.writer``), which never blocks the stream.

Timing: ``created_at`` is the moment the request was sent (UTC); ``latency_ms`` runs from then to the
end of the response (or the error / cancellation), ``ttft_ms`` from then to the first streamed event.
So the call spans ``created_at`` .. ``created_at + latency_ms`` — the OTel sink uses exactly that.

Outcome: ``status`` is ``"success"``, ``"error"`` (then ``error_type``, the error class name, is
required) or ``"cancelled"`` (the consumer stopped early — not an error; ``error_type`` stays unset).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..billing import BillingContext
from ..events import Usage
from ..url_secrets import redact_url

TraceStatus = Literal["success", "error", "cancelled"]


def new_trace_id() -> str:
    return f"provider_trace-{uuid.uuid4()}"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class TraceContext(BaseModel):
    """What the caller knows about a call before it is made; copied into its trace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    organization_id: str | None = None
    user_id: str | None = None
    agent_tags: tuple[str, ...] = ()
    call_type: str | None = None  # e.g. "agent_step", "summarization", "tool_rule"
    billing: BillingContext | None = None


class TraceLLMConfig(BaseModel):
    """The model configuration the call used. Extra keys are kept (providers differ)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    model: str | None = None
    provider: str | None = None  # "openai", "anthropic", or the host of an OpenAI-compatible server
    endpoint: str | None = None  # base URL, without user:password or secret query values
    api: str | None = None  # "chat" | "responses" | "messages"
    context_window: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None

    @field_validator("endpoint")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        # a base URL may carry a proxy's user:password or an ``?api-key=``: the store keeps neither
        return redact_url(value) if value is not None else None


class ProviderTrace(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_trace_id)
    created_at: datetime = Field(default_factory=_utc_now)

    # who / why (from TraceContext)
    step_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None
    organization_id: str | None = None
    user_id: str | None = None
    agent_tags: tuple[str, ...] = ()
    call_type: str | None = None
    billing: BillingContext | None = None

    # what was sent and received
    request_json: dict[str, Any] = Field(default_factory=dict)
    response_json: dict[str, Any] | None = None
    llm_config: TraceLLMConfig = Field(default_factory=TraceLLMConfig)
    provider: str | None = None
    api: str | None = None
    model: str | None = None
    response_id: str | None = None
    stop_reason: str | None = None  # normalized (events.NormalizedStopReason)
    provider_stop_reason: str | None = None  # the provider's own word

    # how it went
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    status: TraceStatus = "success"
    error_type: str | None = None
    error_message: str | None = None

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        # naive datetimes are ambiguous across hosts; store every timestamp in UTC
        if value.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        return value.astimezone(timezone.utc)

    @field_validator("latency_ms", "ttft_ms")
    @classmethod
    def _not_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise ValueError(f"must not be negative, got {value}")
        return value

    @model_validator(mode="after")
    def _outcome_consistent(self) -> ProviderTrace:
        if self.status == "error" and not self.error_type:
            raise ValueError("a trace with status 'error' needs error_type")
        if self.status != "error" and self.error_type is not None:
            raise ValueError(f"a trace with status {self.status!r} cannot carry error_type")
        return self

    @classmethod
    def from_context(cls, context: TraceContext | None, **fields: Any) -> ProviderTrace:
        """A trace with the caller's context copied in and ``fields`` for the rest."""
        base = context.model_dump(exclude={"billing"}) if context is not None else {}
        if context is not None:
            base["billing"] = context.billing
        return cls(**{**base, **fields})

    @property
    def ended_at(self) -> datetime:
        return self.created_at + timedelta(milliseconds=self.latency_ms or 0.0)
