"""Third-party adapters that trip the suite itself rather than one of its checks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from streamproof.conformance.protocol import ConformanceCall
from thirdparty.sdk_adapter import SDKAdapter


class ResultWithoutUsage(SDKAdapter):
    """Hands over a result whose usage is null: the traces check then has no usage to compare."""

    name = "result-without-usage"

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[dict[str, Any], None]:
        async with contextlib.aclosing(super().stream(call)) as events:
            async for event in events:
                yield event
        if isinstance(call.result, dict):
            call.result["usage"] = None


def result_without_usage() -> SDKAdapter:
    return ResultWithoutUsage()
