"""The reference stack wrapped in the adapter protocol: ``streamproof.conformance.reference:factory``.

Each call builds the reference ``LLMStreamAdapter`` over the SDK client for the call's API (OpenAI
for chat and responses, Anthropic for messages) on the suite's ``httpx2`` client, with no retries,
and writes its traces through a real ``TraceWriter`` whose sink is the call's trace collector; the
writer is drained when the stream ends, fails or is closed early.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping

from ..adapters.adapter import LLMStreamAdapter
from ..adapters.formats.anthropic_messages import AnthropicClient
from ..adapters.formats.openai_chat import OpenAIClient
from ..adapters.llm_config import LLMConfig
from ..adapters.traces.writer import TraceWriter
from .protocol import Capabilities, ConformanceCall


class ReferenceAdapter:
    name = "streamproof-reference"
    capabilities = Capabilities(exact_arguments=True)  # arguments exactly as streamed
    known_gaps: Mapping[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        client_class: type[OpenAIClient] | type[AnthropicClient] = (
            AnthropicClient if call.api == "messages" else OpenAIClient
        )
        client = client_class(
            api_key=call.api_key,
            base_url=call.base_url,
            http_client=call.http_client,
            max_retries=0,
            timeout=call.timeout_s,
        )
        writer = TraceWriter(call.traces)
        provider = "anthropic" if call.api == "messages" else "openai"
        adapter = LLMStreamAdapter(
            client,
            LLMConfig(
                model=str(call.request.get("model", "unknown")), provider=provider, base_url=call.base_url
            ),
            "conformance",
            billing_context=call.billing,
            trace_writer=writer,
        )
        try:
            # closing the inner stream explicitly makes its cancellation trace reach the writer before it closes
            async with contextlib.aclosing(adapter.invoke_llm(call.request)) as events:
                async for event in events:
                    yield event
            call.set_result(adapter.result)
        finally:
            await writer.aclose()


def factory() -> ReferenceAdapter:
    return ReferenceAdapter()
