"""What every streaming interface shares: the bytes-in / events-out loop and result bookkeeping.

A streaming interface reads one response's raw bytes and turns them into canonical events:

    interface = OpenAIChatInterface()
    for chunk in byte_chunks:            # any chunking: whole body, per event, byte by byte
        for event in interface.feed(chunk):
            ...                          # yield it on, as it arrives
    interface.finish()                   # end of bytes: checks the terminator, flushes
    result = interface.result()          # LLMResult

Subclasses implement ``_on_sse(event)`` for one decoded event and ``_on_eof()`` for the end. The
bytes are cut into events by the decoder of the class's ``framing`` (a name in ``framing.FRAMINGS``;
SSE unless a format says otherwise): a format whose events travel in another framing overrides
``_frame_decoder`` (or ``framing``) and reuses an interface's event logic as it is.
Tool-call fragments go through ``_tool_delta`` so the original's switches (``use_assistant_message``,
``put_inner_thoughts_in_kwargs``, ``requires_approval_tools``) apply the same way for every format.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar

import orjson
from pydantic import ValidationError

from ..errors import LLMError, MalformedStreamError
from ..events import (
    ApprovalRequest,
    HiddenReasoning,
    HiddenReasoningBlock,
    LLMResult,
    ReasoningBlock,
    ReasoningDelta,
    RefusalDelta,
    StopReason,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    Usage,
    trusted_text_delta,
)
from ..framing import FrameDecoder, framing_named
from ..framing.sse import SSEEvent
from ..partial_json import TopLevelStringFields


class _ToolCallState:
    __slots__ = ("id", "is_assistant_message", "name", "parts", "reader", "requires_approval")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: str | None = None
        self.parts: list[str] = []  # joined once, at the end: O(n) in total
        self.requires_approval = False
        self.is_assistant_message = False  # send_message under use_assistant_message: streams as text
        self.reader: TopLevelStringFields | None = None  # set only when a switch reads the arguments


class StreamingInterface:
    """Bytes in, canonical events out; subclasses translate one wire format.

    The original's switches act on client tool calls, whatever the wire format:

    - ``use_assistant_message``: a call to ``send_message`` is the assistant speaking. Its ``message``
      argument streams as ``TextDelta`` events (decoded incrementally, escapes resolved) and the call
      yields no ``ToolCallDelta``; ``result().text`` holds the message. As in Letta, where the agent
      loop still receives the call from ``get_tool_call_object()`` and runs ``send_message`` to end
      the step, the call stays in ``result().tool_calls`` with its arguments exactly as streamed.
    - ``put_inner_thoughts_in_kwargs``: the ``inner_thoughts`` argument of any tool call streams as
      ``ReasoningDelta`` events (one reasoning block per call); the call's own deltas and its
      arguments in the result stay exactly as streamed, ``inner_thoughts`` included.
    - ``requires_approval_tools``: a call to one of these tools streams as ``ApprovalRequest``
      instead of ``ToolCallDelta`` and is marked ``requires_approval`` in the result.

    Arguments are inspected only when a switch needs them, by a reader that looks at each
    character once; a tool call whose arguments a switch reads must be valid JSON, or the stream
    fails with ``MalformedStreamError``. A call is recognised by its name, which every wire format
    sends on the call's first delta.
    """

    provider: ClassVar[str] = "unknown"
    api: ClassVar[str] = "other"
    framing: ClassVar[str] = "sse"  # how the body is cut into the events ``_on_sse`` reads
    assistant_message_tool: ClassVar[str] = "send_message"
    assistant_message_argument: ClassVar[str] = "message"
    inner_thoughts_argument: ClassVar[str] = "inner_thoughts"

    def __init__(
        self,
        *,
        use_assistant_message: bool = False,
        put_inner_thoughts_in_kwargs: bool = False,
        requires_approval_tools: Iterable[str] = (),
        message_id: str | None = None,
        provider: str | None = None,
    ) -> None:
        self.use_assistant_message = use_assistant_message
        self.put_inner_thoughts_in_kwargs = put_inner_thoughts_in_kwargs
        self.requires_approval_tools = frozenset(requires_approval_tools)
        if provider is not None:
            self.provider = provider  # type: ignore[misc]  # an instance may name a compatible provider
        if message_id is not None and type(message_id) is not str:
            raise TypeError(f"message_id must be a str, not {type(message_id).__name__}")
        self.message_id = message_id or f"msg-{uuid.uuid4().hex}"
        self._id_prefix = f"{self.message_id}:"  # event ids are "<message id>:<n>"
        self._decoder = self._frame_decoder()
        self._seq = 0
        self._out: list[StreamEvent] = []
        self._text: list[str] = []
        self._refusal: list[str] | None = None
        self._reasoning: dict[int, ReasoningBlock] = {}
        self._hidden: list[HiddenReasoningBlock] = []
        self._tools: dict[int, _ToolCallState] = {}
        self._inner_thoughts_blocks: dict[int, int] = {}  # tool-call index -> its reasoning block
        self.usage = Usage()
        self.stop_reason: str | None = None
        self.provider_stop_reason: str | None = None
        self.model: str | None = None
        self.response_id: str | None = None
        self.finished = False
        self.started_at = time.perf_counter()
        self.first_event_at: float | None = None
        self.finished_at: float | None = None
        self._failure: LLMError | None = None  # found by feed(); raised by the next call

    # -- driving ---------------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """Consume some bytes; return the events they complete.

        When the bytes also hold an error (a provider error event, bad JSON), the events before it
        are returned first and the error is raised by the next ``feed``/``finish`` call, so every
        way of cutting the same bytes yields the same events and then the same error.
        """
        if self._failure is not None:
            raise self._failure
        try:
            for sse in self._decoder.feed(chunk):
                self._on_sse(sse)
        except LLMError as exc:
            if not self._out:
                raise
            self._failure = exc
        out = self._out  # _drain(), inlined: feed runs once per network chunk
        self._out = []
        return out

    def finish(self) -> list[StreamEvent]:
        """The bytes have ended. Raises ``LLMIncompleteStreamError`` when the stream was cut."""
        if self._failure is not None:
            raise self._failure
        tail = self._decoder.close()
        for sse in tail:
            self._on_sse(sse, tail=True)
        self._on_eof()
        self.finished = True
        self.finished_at = time.perf_counter()
        return self._drain()

    def iter_events(self, chunks: Iterable[bytes]) -> Iterator[StreamEvent]:
        for chunk in chunks:
            yield from self.feed(chunk)
        yield from self.finish()

    async def aiter_events(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[StreamEvent]:
        async for chunk in chunks:
            for event in self.feed(chunk):
                yield event
        for event in self.finish():
            yield event

    @classmethod
    def parse_response(cls, body: bytes | dict[str, Any], **switches: Any) -> LLMResult:
        """A non-streamed JSON response, as the same result type."""
        interface = cls(**switches)
        interface._on_json_response(body if isinstance(body, dict) else interface._loads(body))
        interface.finished = True
        interface.finished_at = time.perf_counter()
        interface._drain()
        return interface.result()

    # -- for subclasses --------------------------------------------------------------------------

    def _frame_decoder(self) -> FrameDecoder:
        """The decoder that cuts this stream's bytes into the ``(event, data, id)`` events of ``_on_sse``."""
        return framing_named(self.framing).decoder()

    def _on_sse(self, sse: SSEEvent, tail: bool = False) -> None:
        raise NotImplementedError

    def _on_eof(self) -> None:
        raise NotImplementedError

    def _on_json_response(self, body: dict[str, Any]) -> None:
        raise NotImplementedError

    def _loads(self, data: str | bytes, tail: bool = False) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if tail:
                from ..errors import LLMIncompleteStreamError

                raise LLMIncompleteStreamError(
                    f"{self.provider} {self.api} stream ended inside an event ({exc})", provider=self.provider
                ) from None
            snippet = data[:80] if isinstance(data, str) else data[:80].decode("utf-8", "replace")
            raise MalformedStreamError(
                f"{self.provider} {self.api} stream: event data is not valid JSON ({exc}): {snippet!r}",
                provider=self.provider,
            ) from None

    def _not_an_index(self, where: str, value: object) -> MalformedStreamError:
        """``where`` (an event and its field) holds ``value`` where the format has an integer index.

        Indices key the blocks, items and calls of a stream: ``"1"`` beside ``1`` would be two
        keys for one thing (and ``True`` or ``1.0`` the same key as ``1``), so only an int is one.
        """
        return MalformedStreamError(
            f"{self.provider} {self.api} stream: {where} {value!r:.40} is not an integer index",
            provider=self.provider,
        )

    def _next_id(self) -> str:
        self._seq += 1
        return f"{self._id_prefix}{self._seq}"

    def _emit(self, event: StreamEvent) -> None:
        if self.first_event_at is None:
            self.first_event_at = time.perf_counter()
        self._out.append(event)

    def _text_delta(self, text: str) -> None:
        # The hottest path of every stream: _next_id and _emit inlined, and the event built without
        # validation once the one field that comes from the wire is known to be a str.
        if text:
            if type(text) is not str:
                raise TypeError(f"text {text!r:.40} is not a string")
            self._text.append(text)
            self._seq += 1
            if self.first_event_at is None:
                self.first_event_at = time.perf_counter()
            self._out.append(trusted_text_delta(self.message_id, f"{self._id_prefix}{self._seq}", text))

    def _refusal_delta(self, text: str) -> None:
        if text:
            if self._refusal is None:
                self._refusal = []
            self._refusal.append(text)
            self._emit(RefusalDelta(message_id=self.message_id, event_id=self._next_id(), text=text))

    def _reasoning_delta(self, block: int, text: str = "", signature: str | None = None) -> None:
        state = self._reasoning.get(block)
        if state is None:
            state = self._reasoning[block] = ReasoningBlock()
        if text:
            state.text += text
        if signature:
            state.signature = signature
        if text or signature:
            self._emit(
                ReasoningDelta(
                    message_id=self.message_id,
                    event_id=self._next_id(),
                    block=block,
                    text=text,
                    signature=signature,
                )
            )

    def _hidden_reasoning(self, block: int, state: str, data: str | None) -> None:
        self._hidden.append(HiddenReasoningBlock(state=state, data=data))  # type: ignore[arg-type]
        self._emit(
            HiddenReasoning(
                message_id=self.message_id,
                event_id=self._next_id(),
                block=block,
                state=state,  # type: ignore[arg-type]
                data=data,
            )
        )

    def _tool_delta(
        self, index: int, id: str | None = None, name: str | None = None, arguments: str = ""
    ) -> None:
        """One fragment of client tool call ``index``; identity may come on the first fragment only."""
        call = self._tools.get(index)
        first = call is None
        if call is None:
            call = self._tools[index] = _ToolCallState()
        if id and not call.id:
            call.id = id
        if name and not call.name:
            call.name = name
            call.requires_approval = name in self.requires_approval_tools
            call.is_assistant_message = self.use_assistant_message and name == self.assistant_message_tool
            call.reader = self._argument_reader(call)
        if arguments:
            call.parts.append(arguments)
            if call.reader is not None:
                self._read_switched_arguments(index, call.reader, arguments)
        if call.is_assistant_message or not (first or arguments or id or name):
            return
        cls = ApprovalRequest if call.requires_approval else ToolCallDelta
        self._emit(
            cls(
                message_id=self.message_id,
                event_id=self._next_id(),
                index=index,
                id=id if first or id else None,
                name=name if first or name else None,
                arguments=arguments,
            )
        )

    def _argument_reader(self, call: _ToolCallState) -> TopLevelStringFields | None:
        fields = []
        if call.is_assistant_message:
            fields.append(self.assistant_message_argument)
        if self.put_inner_thoughts_in_kwargs:
            fields.append(self.inner_thoughts_argument)
        return TopLevelStringFields(*fields) if fields else None

    def _read_switched_arguments(self, index: int, reader: TopLevelStringFields, arguments: str) -> None:
        for field, text in reader.feed(arguments):
            if field == self.assistant_message_argument:
                self._text_delta(text)
            else:
                self._reasoning_delta(self._inner_thoughts_block(index), text)

    def _inner_thoughts_block(self, index: int) -> int:
        """A reasoning block of its own for the inner thoughts of tool call ``index``."""
        block = self._inner_thoughts_blocks.get(index)
        if block is None:
            # After every block in use: provider blocks seen so far sort before it.
            block = self._inner_thoughts_blocks[index] = max(self._reasoning, default=-1) + 1
        return block

    def _stop(self, reason: str, provider_reason: str | None) -> None:
        self.stop_reason = reason
        self.provider_stop_reason = provider_reason
        self._emit(
            StopReason(
                message_id=self.message_id,
                event_id=self._next_id(),
                reason=reason,  # type: ignore[arg-type]
                provider_reason=provider_reason,
            )
        )

    def _drain(self) -> list[StreamEvent]:
        """The events since the last call, in a list of their own (never one still being filled)."""
        out = self._out
        self._out = []
        return out

    # -- the outcome -----------------------------------------------------------------------------

    def result(self) -> LLMResult:
        try:
            return self._build_result()
        except ValidationError as exc:  # a stream field of the wrong type (say, a list as "model")
            raise self._invalid(exc) from None

    def _invalid(self, exc: ValidationError) -> MalformedStreamError:
        """A value from the stream that its model refuses, named: ``usage.prompt_tokens 2**64 ...``."""
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        if exc.title != LLMResult.__name__:  # a part built while streaming: say which
            where = f"{exc.title.lower()}.{where}"
        return MalformedStreamError(
            f"{self.provider} {self.api} stream: {where} {problem['input']!r:.60} is invalid ({problem['msg']})",
            provider=self.provider,
        )

    def _build_result(self) -> LLMResult:
        tool_calls = [
            ToolCall(
                id=call.id or "",
                name=call.name or "",
                arguments="".join(call.parts),
                requires_approval=call.requires_approval,
            )
            for call in self._tools.values()  # insertion order = order of first appearance
        ]
        ttft = (self.first_event_at - self.started_at) * 1000 if self.first_event_at is not None else None
        latency = (self.finished_at - self.started_at) * 1000 if self.finished_at is not None else None
        return LLMResult(
            message_id=self.message_id,
            text="".join(self._text),
            refusal="".join(self._refusal) if self._refusal is not None else None,
            reasoning=[self._reasoning[k] for k in sorted(self._reasoning)],
            hidden_reasoning=list(self._hidden),
            tool_calls=tool_calls,
            usage=self.usage,
            stop_reason=self.stop_reason,  # type: ignore[arg-type]
            provider_stop_reason=self.provider_stop_reason,
            model=self.model,
            response_id=self.response_id,
            ttft_ms=ttft,
            latency_ms=latency,
        )
