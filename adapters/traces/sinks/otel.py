"""``OTelSink``: one OpenTelemetry span per trace, following the GenAI semantic conventions.

The attribute names follow ``opentelemetry-semantic-conventions`` ``SEMCONV_VERSION`` (pinned in the
``otel`` extra of pyproject.toml); that release names the provider ``gen_ai.provider.name``
(``gen_ai.system`` is its deprecated predecessor) and marks the GenAI attributes as moved to the
separate GenAI conventions repository under the same names. The names are spelled out here, and a
test checks them against the installed package.

Each span: name ``"chat {request model}"``, kind CLIENT, starting at ``trace.created_at`` and ending
``latency_ms`` later, with

- GenAI: ``gen_ai.operation.name`` (``"chat"``), ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.request.max_tokens`` / ``temperature`` / ``stream`` when known, ``gen_ai.response.id``,
  ``gen_ai.response.model``, ``gen_ai.response.finish_reasons`` (the provider's own word),
  ``gen_ai.response.time_to_first_chunk`` (seconds), ``gen_ai.usage.input_tokens`` /
  ``output_tokens`` / ``cache_read.input_tokens`` / ``cache_creation.input_tokens`` /
  ``reasoning.output_tokens`` (only those reported), ``gen_ai.agent.id``; ``server.address`` and
  ``server.port`` from the endpoint; ``user.id``.
- Failures: ``error.type`` (the error class name) and span status ERROR with the error message.
  A cancelled call is not an error: status stays UNSET and ``streamproof.status`` says ``cancelled``.
- Billing (no semconv exists): ``billing.plan_type``, ``billing.cost_source``, ``billing.customer_id``.
- streamproof's own: ``streamproof.trace_id``, ``streamproof.status``, ``streamproof.api``,
  ``streamproof.stop_reason`` (normalized), ``streamproof.call_type``, ``streamproof.agent_tags``,
  ``streamproof.step_id``, ``streamproof.run_id``, ``streamproof.organization_id``,
  ``streamproof.usage.total_tokens``, ``streamproof.usage.step_count``.

Request and response bodies are not put on spans (the conventions keep message content opt-in, and
they can be large); the SQLite and ClickHouse sinks store them.

Spans are created on a worker thread, since a span processor may export synchronously.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Final
from urllib.parse import urlsplit

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from ..model import ProviderTrace

SEMCONV_VERSION: Final = "0.66b2"
INSTRUMENTATION_NAME: Final = "streamproof"

GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
USER_ID: Final = "user.id"

BILLING_PLAN_TYPE: Final = "billing.plan_type"
BILLING_COST_SOURCE: Final = "billing.cost_source"
BILLING_CUSTOMER_ID: Final = "billing.customer_id"

OPERATION_CHAT: Final = "chat"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


def span_attributes(trace: ProviderTrace) -> dict[str, AttributeValue]:
    """The span attributes for ``trace`` (unset values left out, as OTel requires)."""
    config = trace.llm_config
    usage = trace.usage
    billing = trace.billing
    request_model = config.model or _str_or_none(trace.request_json.get("model")) or trace.model
    stream = trace.request_json.get("stream")
    endpoint = urlsplit(config.endpoint) if config.endpoint else None
    finish_reason = trace.provider_stop_reason or trace.stop_reason
    candidates: dict[str, AttributeValue | None] = {
        GEN_AI_OPERATION_NAME: OPERATION_CHAT,
        GEN_AI_PROVIDER_NAME: trace.provider or config.provider,
        GEN_AI_REQUEST_MODEL: request_model,
        GEN_AI_REQUEST_MAX_TOKENS: config.max_tokens,
        GEN_AI_REQUEST_TEMPERATURE: config.temperature,
        GEN_AI_REQUEST_STREAM: stream if isinstance(stream, bool) else None,
        GEN_AI_RESPONSE_ID: trace.response_id,
        GEN_AI_RESPONSE_MODEL: trace.model,
        GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason] if finish_reason else None,
        GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: None if trace.ttft_ms is None else trace.ttft_ms / 1000.0,
        GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
        GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
        GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cached_input_tokens,
        GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
        GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
        GEN_AI_AGENT_ID: trace.agent_id,
        SERVER_ADDRESS: endpoint.hostname if endpoint else None,
        SERVER_PORT: _port(endpoint.port if endpoint else None, endpoint.scheme if endpoint else None),
        USER_ID: trace.user_id,
        ERROR_TYPE: trace.error_type if trace.status == "error" else None,
        BILLING_PLAN_TYPE: billing.plan_type if billing else None,
        BILLING_COST_SOURCE: billing.cost_source if billing else None,
        BILLING_CUSTOMER_ID: billing.customer_id if billing else None,
        "streamproof.trace_id": trace.id,
        "streamproof.status": trace.status,
        "streamproof.api": trace.api or config.api,
        "streamproof.stop_reason": trace.stop_reason,
        "streamproof.call_type": trace.call_type,
        "streamproof.agent_tags": list(trace.agent_tags) or None,
        "streamproof.step_id": trace.step_id,
        "streamproof.run_id": trace.run_id,
        "streamproof.organization_id": trace.organization_id,
        "streamproof.usage.total_tokens": usage.total_tokens,
        "streamproof.usage.step_count": usage.step_count,
    }
    return {name: value for name, value in candidates.items() if value is not None}


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _port(port: int | None, scheme: str | None) -> int | None:
    if port is not None:
        return port
    return {"https": 443, "http": 80}.get(scheme or "")


def _nanoseconds(trace: ProviderTrace) -> tuple[int, int]:
    # integer arithmetic: a float POSIX timestamp would lose the microseconds' last digits
    start = (trace.created_at - _EPOCH) // timedelta(microseconds=1) * 1_000
    return start, start + round((trace.latency_ms or 0.0) * 1_000_000)


class OTelSink:
    """Writes each trace as a span through ``tracer_provider`` (the global one when ``None``)."""

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._provider = tracer_provider or otel_trace.get_tracer_provider()
        self._tracer = self._provider.get_tracer(INSTRUMENTATION_NAME)

    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None:
        await asyncio.to_thread(self._record, list(traces))

    def _record(self, traces: list[ProviderTrace]) -> None:
        for trace in traces:
            attributes = span_attributes(trace)
            start_ns, end_ns = _nanoseconds(trace)
            span = self._tracer.start_span(
                f"{OPERATION_CHAT} {attributes.get(GEN_AI_REQUEST_MODEL, '')}".rstrip(),
                kind=SpanKind.CLIENT,
                attributes=attributes,
                start_time=start_ns,
            )
            if trace.status == "error":
                span.set_status(Status(StatusCode.ERROR, trace.error_message or trace.error_type))
            span.end(end_time=end_ns)

    async def aclose(self) -> None:
        # the provider belongs to the caller: flush what we handed it, but do not shut it down
        flush = getattr(self._provider, "force_flush", None)
        if callable(flush):
            await asyncio.to_thread(flush)
