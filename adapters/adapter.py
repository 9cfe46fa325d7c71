"""The LLM adapters: one LLM call through an SDK client, with its outcome held and traced.

``LLMStreamAdapter.invoke_llm(request_data)`` is an async generator that yields each canonical
event (``events.StreamEvent``) as soon as its bytes arrive; ``LLMRequestAdapter`` makes the same call
without streaming and ends with the same ``LLMResult``. After a call, an adapter holds what Letta's
does: ``tool_call`` / ``tool_calls``, ``reasoning_content``, ``content``, ``usage`` (step_count 1),
``message_id``, ``finish_reason``, ``llm_request_finish_timestamp_ns``, plus ``result``.

    adapter = LLMStreamAdapter(client, LLMConfig(model="gpt-4o"), call_type="agent_step",
                               agent_id=..., billing_context=..., trace_writer=writer)
    async for event in adapter.invoke_llm({"model": "gpt-4o", "messages": [...]}):
        ...
    adapter.result, adapter.usage

``await adapter.complete(request_data)`` runs a call to its end and returns the ``LLMResult``. A call
is complete when its consumer has read the last event; one that stops reading earlier is cancelled.
The request adapter yields the events of the whole response at once (``events_of``: one per block),
so one consumer loop serves both adapters.

Every call writes exactly ONE ``ProviderTrace`` through ``trace_writer.emit`` (never blocks):
``"success"``; ``"error"`` (the ``LLMError`` the caller gets, its class and message); or
``"cancelled"`` when the consumer stops early (``aclose()``, ``break``, task cancellation). Stopping
early is not an error: nothing is raised at the consumer, ``CancelledError`` propagates untouched.
A trace is built only from the call's own state (a ``_Call``), never from what the client or the
adapter kept from an earlier call. Timing runs from the moment the request is sent: ``ttft_ms`` to
the first event, ``latency_ms`` to the end (of the stream, the error or the cancellation).

Errors reach the caller as ``LLMError``s: SDK status errors and transport failures are mapped by
``error_mapping.map_sdk_exception``, mid-stream error events and cut streams are raised by the
interfaces already. One adapter instance serves one call at a time; share the client and the writer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from .billing import BillingContext
from .clients import ProviderClient
from .error_mapping import map_sdk_exception
from .errors import LLMError
from .events import (
    ApprovalRequest,
    HiddenReasoning,
    HiddenReasoningBlock,
    LLMResult,
    ReasoningBlock,
    ReasoningDelta,
    RefusalDelta,
    RunUsage,
    StopReason,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from .formats import WireFormat, format_for_request
from .formats.base import StreamingInterface
from .llm_config import LLMConfig
from .traces.model import ProviderTrace, TraceContext, TraceStatus
from .traces.writer import TraceWriter

logger = logging.getLogger(__name__)


class _Call:
    """Everything one call knows about itself; its trace is built from this alone."""

    def __init__(
        self, api: str, payload: dict[str, Any], interface: StreamingInterface, context: TraceContext
    ) -> None:
        self.api = api
        self.payload = payload
        self.interface = interface
        self.context = context  # ids, tags, call type and billing as they were when the call began
        self.created_at = datetime.now(timezone.utc)
        self.started = time.perf_counter()
        self.answered_at: float | None = None  # a non-streamed response: when it was read whole
        self.responded = False  # the status line arrived: a dropped connection now cuts the stream
        self.request_id: str | None = None

    @property
    def first_event(self) -> float | None:
        """When the first event was produced (the interface notes it as it parses, at no extra cost)."""
        streamed = self.interface.first_event_at
        return streamed if streamed is not None else self.answered_at

    def elapsed_ms(self, since: float | None = None) -> float:
        return ((since if since is not None else time.perf_counter()) - self.started) * 1000


class LLMAdapter:
    """What the stream and request adapters share: context, switches, outcome, tracing."""

    def __init__(
        self,
        client: ProviderClient,
        llm_config: LLMConfig,
        call_type: str,
        *,
        agent_id: str | None = None,
        agent_tags: Sequence[str] = (),
        run_id: str | None = None,
        org_id: str | None = None,
        user_id: str | None = None,
        step_id: str | None = None,
        billing_context: BillingContext | None = None,
        trace_writer: TraceWriter | None = None,
        run_usage: RunUsage | None = None,
        use_assistant_message: bool = False,
        put_inner_thoughts_in_kwargs: bool = False,
        requires_approval_tools: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.llm_config = llm_config
        self.call_type = call_type
        self.agent_id = agent_id
        self.agent_tags = tuple(agent_tags)
        self.run_id = run_id
        self.org_id = org_id
        self.user_id = user_id
        self.step_id = step_id
        self.billing_context = billing_context
        self.trace_writer = trace_writer
        self.run_usage = run_usage  # summed over this run's steps when given
        self.use_assistant_message = use_assistant_message
        self.put_inner_thoughts_in_kwargs = put_inner_thoughts_in_kwargs
        self.requires_approval_tools = frozenset(requires_approval_tools)
        self.request_data: dict[str, Any] | None = None
        self._forget_outcome()

    def _forget_outcome(self) -> None:
        """The outcome of the last call, as Letta's adapter holds it; empty until a call succeeds."""
        self.result: LLMResult | None = None
        self.content: str | None = None
        self.reasoning_content: list[ReasoningBlock | HiddenReasoningBlock] = []
        self.tool_calls: list[ToolCall] = []
        self.tool_call: ToolCall | None = None  # the first (usually the only) tool call
        self.usage = Usage()
        self.message_id: str | None = None
        self.finish_reason: str | None = None
        self.llm_request_finish_timestamp_ns: int | None = None

    def supports_token_streaming(self) -> bool:
        return False

    def invoke_llm(
        self, request_data: Mapping[str, Any], *, step_id: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        raise NotImplementedError

    async def complete(self, request_data: Mapping[str, Any], *, step_id: str | None = None) -> LLMResult:
        """Run ``invoke_llm`` to the end and return the result."""
        async for _ in self.invoke_llm(request_data, step_id=step_id):
            pass
        assert self.result is not None  # a call that ended without raising set it
        return self.result

    # -- one call ---------------------------------------------------------------------------------

    def _payload(self, request_data: Mapping[str, Any], fmt: WireFormat) -> dict[str, Any]:
        raise NotImplementedError

    def _start(self, request_data: Mapping[str, Any], step_id: str | None) -> _Call:
        if step_id is not None:
            self.step_id = step_id
        fmt = format_for_request(self.llm_config.provider, request_data)
        api = fmt.api
        payload = self._payload(request_data, fmt)
        self.request_data = payload
        self._forget_outcome()
        context = TraceContext(
            step_id=self.step_id,
            agent_id=self.agent_id,
            run_id=self.run_id,
            organization_id=self.org_id,
            user_id=self.user_id,
            agent_tags=self.agent_tags,
            call_type=self.call_type,
            billing=self.billing_context,
        )
        interface = fmt.interface()(
            use_assistant_message=self.use_assistant_message,
            put_inner_thoughts_in_kwargs=self.put_inner_thoughts_in_kwargs,
            requires_approval_tools=self.requires_approval_tools,
            provider=self.llm_config.provider,
        )
        return _Call(api, payload, interface, context)

    def _succeed(self, call: _Call, result: LLMResult) -> None:
        latency = call.elapsed_ms()
        result = result.model_copy(update={"ttft_ms": self._ttft(call), "latency_ms": latency})
        self.result = result
        self.content = result.text or None
        self.reasoning_content = [*result.reasoning, *result.hidden_reasoning]
        self.tool_calls = list(result.tool_calls)
        self.tool_call = result.tool_calls[0] if result.tool_calls else None
        self.usage = result.usage
        self.message_id = result.message_id
        self.finish_reason = result.stop_reason
        self.llm_request_finish_timestamp_ns = time.time_ns()
        if self.run_usage is not None:
            self.run_usage.add(result.usage)
        self._trace(call, "success", result, latency)

    def _fail(self, call: _Call, exc: Exception) -> Exception:
        """The exception the caller gets for ``exc`` (an ``LLMError`` unless ``exc`` is a bug); traced."""
        error: Exception = map_sdk_exception(exc, self.llm_config.provider, mid_stream=call.responded) or exc
        if isinstance(error, LLMError) and error.request_id is None:
            error.request_id = call.request_id  # a mid-stream error event names no request
        self.llm_request_finish_timestamp_ns = time.time_ns()
        self._trace(call, "error", self._partial(call), call.elapsed_ms(), error)
        return error

    def _cancel(self, call: _Call) -> None:
        self.llm_request_finish_timestamp_ns = time.time_ns()
        self._trace(call, "cancelled", self._partial(call), call.elapsed_ms())

    @staticmethod
    def _ttft(call: _Call) -> float | None:
        return call.elapsed_ms(call.first_event) if call.first_event is not None else None

    @staticmethod
    def _partial(call: _Call) -> LLMResult | None:
        """What arrived before the call ended early (None when no event did, or it cannot be built)."""
        if call.first_event is None:
            return None
        try:
            return call.interface.result()
        except Exception:  # whatever it is, the call's one trace is still written, without a response
            logger.debug("the partial result of a failed or cancelled call could not be built", exc_info=True)
            return None

    def _trace(
        self,
        call: _Call,
        status: TraceStatus,
        result: LLMResult | None,
        latency_ms: float,
        error: Exception | None = None,
    ) -> None:
        if self.trace_writer is None:
            return
        trace = ProviderTrace.from_context(
            call.context,
            created_at=call.created_at,
            request_json=call.payload,
            response_json=result.model_dump(mode="json") if result is not None else None,
            llm_config=self.llm_config.for_trace(call.api),
            provider=self.llm_config.provider,
            api=call.api,
            model=(result.model if result is not None else None) or self.llm_config.model,
            response_id=result.response_id if result is not None else None,
            stop_reason=result.stop_reason if result is not None else None,
            provider_stop_reason=result.provider_stop_reason if result is not None else None,
            usage=result.usage if result is not None else call.interface.usage,
            latency_ms=latency_ms,
            ttft_ms=self._ttft(call),
            status=status,
            error_type=type(error).__name__ if error is not None else None,
            error_message=str(error) if error is not None else None,
        )
        self.trace_writer.emit(trace)


class LLMStreamAdapter(LLMAdapter):
    """Streams: each event is yielded as soon as the bytes that complete it arrive."""

    def supports_token_streaming(self) -> bool:
        return True

    def _payload(self, request_data: Mapping[str, Any], fmt: WireFormat) -> dict[str, Any]:
        return fmt.streamed_request(request_data, self.llm_config.provider)

    async def invoke_llm(
        self, request_data: Mapping[str, Any], *, step_id: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        call = self._start(request_data, step_id)
        interface = call.interface
        try:
            async with self.client.open(call.api, call.payload) as response:
                call.responded = True
                call.request_id = response.request_id
                async for chunk in response.aiter_bytes():
                    for event in interface.feed(chunk):
                        yield event
                for event in interface.finish():
                    yield event
            result = interface.result()  # may still fail (a malformed field): then an error trace
        except (GeneratorExit, asyncio.CancelledError):
            self._cancel(call)  # the consumer stopped: not an error, and nothing to raise at it
            raise
        except Exception as exc:
            error = self._fail(call, exc)
            if error is exc:
                raise
            raise error from exc
        self._succeed(call, result)


class LLMRequestAdapter(LLMAdapter):
    """One non-streamed request; ``invoke_llm`` yields the whole response's events once it is read."""

    def _payload(self, request_data: Mapping[str, Any], fmt: WireFormat) -> dict[str, Any]:
        return {k: v for k, v in request_data.items() if k not in ("stream", "stream_options")}

    async def invoke_llm(
        self, request_data: Mapping[str, Any], *, step_id: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        call = self._start(request_data, step_id)
        try:
            async with self.client.open(call.api, call.payload) as response:
                call.responded = True
                call.request_id = response.request_id
                body = await response.read()
            result = type(call.interface).parse_response(
                body,
                use_assistant_message=self.use_assistant_message,
                put_inner_thoughts_in_kwargs=self.put_inner_thoughts_in_kwargs,
                requires_approval_tools=self.requires_approval_tools,
                provider=self.llm_config.provider,
                message_id=call.interface.message_id,
            )
        except asyncio.CancelledError:
            self._cancel(call)
            raise
        except Exception as exc:
            error = self._fail(call, exc)
            if error is exc:
                raise
            raise error from exc
        call.answered_at = time.perf_counter()  # the whole response is the first (and only) arrival
        self._succeed(call, result)
        for event in events_of(result):
            yield event


def events_of(result: LLMResult) -> list[StreamEvent]:
    """A complete result as the events a stream of it would carry, one per block."""
    mid = result.message_id
    counter = itertools.count(1)

    def next_id() -> str:
        return f"{mid}:{next(counter)}"

    events: list[StreamEvent] = [
        ReasoningDelta(
            message_id=mid, event_id=next_id(), block=block, text=part.text, signature=part.signature
        )
        for block, part in enumerate(result.reasoning)
    ]
    events += [
        HiddenReasoning(message_id=mid, event_id=next_id(), block=block, state=part.state, data=part.data)
        for block, part in enumerate(result.hidden_reasoning, start=len(result.reasoning))
    ]
    if result.text:
        events.append(TextDelta(message_id=mid, event_id=next_id(), text=result.text))
    if result.refusal:
        events.append(RefusalDelta(message_id=mid, event_id=next_id(), text=result.refusal))
    for index, call in enumerate(result.tool_calls):
        cls = ApprovalRequest if call.requires_approval else ToolCallDelta
        events.append(
            cls(
                message_id=mid,
                event_id=next_id(),
                index=index,
                id=call.id,
                name=call.name,
                arguments=call.arguments,
            )
        )
    if result.stop_reason is not None:
        events.append(
            StopReason(
                message_id=mid,
                event_id=next_id(),
                reason=result.stop_reason,
                provider_reason=result.provider_stop_reason,
            )
        )
    return events
