"""The adapter protocol: how any streaming adapter is wrapped so the conformance suite can drive it.

An adapter under test is built by a factory named ``module:factory`` (``--adapter`` /
``--streamproof-adapter``). The factory takes no arguments and returns an object with:

- ``name``          a short label used in reports;
- ``capabilities``  a ``Capabilities``: the APIs it speaks (``chat``, ``responses``, ``messages``),
                    whether it writes traces, whether it survives cancellation, whether its
                    library re-splits deltas (``coalesced_deltas``) and whether it keeps tool
                    arguments byte for byte (``exact_arguments``);
- ``known_gaps``    ``{check: reason}`` (or ``{"check:case-glob": reason}``): those checks are
                    reported as expected failures (xfail) with that reason instead of failures;
                    a key can name one field (``outcome.usage.cache_write_tokens``): then only a
                    difference in that field is expected, and any other one still fails;
- ``stream(call)``  an async generator. Given a ``ConformanceCall`` it sends ``call.request`` (the
                    recorded request JSON) to the provider ``call.api`` through ``call.http_client``
                    (an ``httpx2.AsyncClient`` wired to the cassette) or its own client pointed at
                    ``call.base_url`` with ``call.api_key``, and yields canonical events as they
                    arrive: ``streamproof.adapters.events`` objects, or plain dicts of the same shape
                    (``{"kind": "text", "text": "Hi"}``). When the stream has ended it hands over the
                    final outcome with ``call.set_result(...)`` (an ``LLMResult`` or a dict with
                    ``text``, ``reasoning``, ``signatures``, ``tool_calls``, ``usage``, ``stop_reason``,
                    ``provider_stop_reason``). A failed call raises an ``LLMError`` subclass of
                    ``streamproof.adapters.errors``. It emits exactly one trace per call to
                    ``call.traces`` (a ``ProviderTrace`` or a dict with the same field names: ``status``,
                    ``billing``, ``usage``, ``latency_ms``, ``ttft_ms``, ``error_type``), carrying
                    ``call.billing``.

Clients the library builds itself are served from the cassette too: during a call the suite routes
every ``httpx2``/``httpx`` connection pool to the cassette, so nothing reaches the network; any
other way out (a socket, urllib, aiohttp, a sync client, a name lookup) is refused and fails the
case, naming the host. Use no retries, and ``call.timeout_s`` as the read timeout: the suite's
transport enforces the timeout the client sends, never one of its own.

The reference stack's factory is ``streamproof.conformance.reference:factory`` (the default).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

import httpx2

from ..adapters.billing import BillingContext
from ..adapters.errors import StreamproofError
from .libraries import LIBRARY_ADAPTERS

API_NAMES = ("chat", "responses", "messages")
CHECKS = ("outcome", "streaming", "chunking", "faults", "traces", "cancellation", "request", "snapshot")
# the faults check gives one verdict per kind of fault injected: ``faults[rate_limit]``, ...
FAULT_KINDS = (
    "rate_limit",
    "quota",
    "server_error",
    "unavailable",
    "overloaded",
    "mid_stream_error",
    "cut_events",
    "clean_end",
    "malformed_chunk",
    "stall",
)
# what a run reports on, check by check: the CHECKS with ``faults`` as one item per fault kind
ITEMS = tuple(
    item
    for check in CHECKS
    for item in ((f"faults[{kind}]" for kind in FAULT_KINDS) if check == "faults" else (check,))
)


def item_check(item: str) -> str:
    """The check an item belongs to: ``faults[stall]`` -> ``faults``."""
    return item.partition("[")[0]
DEFAULT_ADAPTER = "streamproof.conformance.reference:factory"


class AdapterLoadError(StreamproofError):  # type: ignore[misc,unused-ignore]  # mypy cannot follow the editable install
    """A ``module:factory`` that cannot be imported, called, or does not give a conforming adapter."""


@dataclass(frozen=True)
class Capabilities:
    """What the adapter claims; the battery judges accordingly.

    - ``coalesced_deltas``: the library re-splits deltas (it merges or cuts the provider's pieces):
      the snapshot is compared with adjacent deltas of one kind and block (or tool call) merged.
    - ``exact_arguments``: tool-call arguments are kept byte for byte as streamed: they are compared
      as strings. Without it they are compared as parsed JSON (key order and spacing aside).
    """

    apis: frozenset[str] = frozenset(API_NAMES)
    traces: bool = True
    cancellation: bool = True
    coalesced_deltas: bool = False
    exact_arguments: bool = False


class TraceCollector:
    """Receives the traces an adapter writes during one call: ``emit(trace)`` directly, or as the
    sink of a ``TraceWriter`` (``write_batch`` / ``aclose``)."""

    def __init__(self) -> None:
        self.traces: list[dict[str, Any]] = []

    def emit(self, trace: object) -> None:
        self.traces.append(trace_fields(trace))

    async def write_batch(self, traces: Sequence[object]) -> None:
        for trace in traces:
            self.emit(trace)

    async def aclose(self) -> None:
        """Nothing to release: the traces stay readable after the writer closes."""


def trace_fields(trace: object) -> dict[str, Any]:
    """A ``ProviderTrace`` (or anything with ``model_dump``) or a mapping, as a plain dict."""
    dump = getattr(trace, "model_dump", None)
    if callable(dump):
        fields: Any = dump(mode="json")
        return dict(fields)
    if isinstance(trace, Mapping):
        return dict(trace)
    return {"unreadable_trace": repr(trace)}


@dataclass
class ConformanceCall:
    """Everything an adapter needs for one call; the adapter reports its outcome back through it."""

    api: str
    provider: str
    request: dict[str, Any]
    http_client: httpx2.AsyncClient
    base_url: str  # OpenAI style, with /v1 for chat and responses; Anthropic style, without, for messages
    api_key: str
    billing: BillingContext
    traces: TraceCollector = field(default_factory=TraceCollector)
    timeout_s: float = 2.0  # the read timeout the adapter's client should use
    result: object | None = None

    def set_result(self, result: object) -> None:
        self.result = result


@runtime_checkable
class ConformanceAdapter(Protocol):
    name: str
    capabilities: Capabilities
    known_gaps: Mapping[str, str]

    def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]: ...


def gap_check(key: str) -> str:
    """The check a known-gap key names: ``outcome``, ``outcome.usage.cache_write_tokens``,
    ``faults[stall]`` and ``chunking:openai/chat/*`` all name their first word's check."""
    return re.split(r"[.\[]", key.partition(":")[0], maxsplit=1)[0]


def _import_adapter_module(name: str) -> ModuleType:
    """Imports ``name``, from the current folder too, as ``python -m`` would: the ``streamproof``
    command's own path does not hold it, and a first adapter is usually a file right there."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        top = name.partition(".")[0]
        here = Path.cwd()
        if exc.name != top or str(here) in sys.path:
            raise
        if not ((here / f"{top}.py").is_file() or (here / top).is_dir()):
            raise
        sys.path.insert(0, str(here))
        return importlib.import_module(name)


def load_adapter(spec: str) -> ConformanceAdapter:
    """Import ``module:factory`` (or a short name of ``LIBRARY_ADAPTERS``, e.g. ``langchain``), call
    it, and check that it gives a conforming adapter."""
    extra = None
    if spec in LIBRARY_ADAPTERS:
        spec, extra = LIBRARY_ADAPTERS[spec]
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        names = ", ".join(LIBRARY_ADAPTERS)
        raise AdapterLoadError(
            f"adapter {spec!r}: expected MODULE:FACTORY, e.g. {DEFAULT_ADAPTER}, or one of {names}"
        )
    try:
        module = _import_adapter_module(module_name)
    except ImportError as exc:
        hint = f' (install it with: pip install "streamproof[{extra}]")' if extra else ""
        raise AdapterLoadError(f"adapter {spec!r}: cannot import {module_name!r}: {exc}{hint}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise AdapterLoadError(f"adapter {spec!r}: {module_name} has no callable {attribute!r}")
    adapter = factory()
    missing = [
        name for name in ("name", "capabilities", "known_gaps", "stream") if not hasattr(adapter, name)
    ]
    if missing:
        raise AdapterLoadError(f"adapter {spec!r}: the factory's object lacks {', '.join(missing)}")
    if not isinstance(adapter.capabilities, Capabilities):
        raise AdapterLoadError(f"adapter {spec!r}: capabilities must be a streamproof Capabilities")
    unknown = [key for key in adapter.known_gaps if gap_check(key) not in CHECKS]
    if unknown:
        raise AdapterLoadError(
            f"adapter {spec!r}: known_gaps names unknown checks {unknown}; checks: {CHECKS}"
        )
    conforming: ConformanceAdapter = adapter
    return conforming
