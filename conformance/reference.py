"""The reference stack wrapped in the adapter protocol: ``streamproof.conformance.reference:factory``.

Each call builds the reference ``LLMStreamAdapter`` over the SDK client of the call's wire format
(``adapters.formats.format_for(api, provider)``) on the suite's ``httpx2`` client, with no retries,
and writes its traces through a real ``TraceWriter`` whose sink is the call's trace collector; the
writer is drained when the stream ends, fails or is closed early.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Mapping

from ..adapters.adapter import LLMStreamAdapter
from ..adapters.formats import format_for
from ..adapters.llm_config import LLMConfig
from ..adapters.traces.writer import TraceWriter
from .protocol import Capabilities, ConformanceCall


class ReferenceAdapter:
    name = "streamproof-reference"
    # arguments exactly as streamed; every format of the adapters' registry
    capabilities = Capabilities(exact_arguments=True, formats=frozenset({"bedrock_messages"}))
    known_gaps: Mapping[str, str] = {}

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        wire = format_for(call.api, call.provider)  # the adapters' registry: its client, its provider
        # a signing client (Bedrock) gets the call's credentials instead of a key
        credentials: dict[str, str] = dict(call.credentials) or {"api_key": call.api_key}
        client = wire.client()(
            base_url=call.base_url,
            http_client=call.http_client,
            max_retries=0,
            timeout=call.timeout_s,
            **credentials,
        )
        writer = TraceWriter(call.traces)
        provider = wire.provider
        model = call.model or str(call.request.get("model", "unknown"))
        # Bedrock's body has no model (it is in the path): the call names it
        request = (
            {"model": call.model, **call.request}
            if call.model and "model" not in call.request
            else call.request
        )
        adapter = LLMStreamAdapter(
            client,
            LLMConfig(model=model, provider=provider, base_url=call.base_url),
            "conformance",
            billing_context=call.billing,
            trace_writer=writer,
        )
        try:
            # closing the inner stream explicitly makes its cancellation trace reach the writer before it closes
            async with contextlib.aclosing(adapter.invoke_llm(request)) as events:
                async for event in events:
                    yield event
            call.set_result(adapter.result)
        finally:
            await writer.aclose()


def factory() -> ReferenceAdapter:
    return ReferenceAdapter()
