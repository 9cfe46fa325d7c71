"""The ``TraceSink`` protocol every sink implements.

A sink receives traces in batches from the one ``TraceWriter`` task, on the writer's event loop:

- ``async write_batch(traces)`` stores them all or raises; it must not block the event loop (a sink
  doing blocking I/O moves it to a thread). The writer bounds each call with a timeout and counts
  the batch as failed or timed out; a sink need not protect itself.
- ``async aclose()`` releases the sink's resources; called once, after the last batch.

A sink that stores request and response JSON writes it with ``json_text``, which does not fail on
what a caller may legitimately send; a trace the sink still cannot store costs only itself (the
writer retries a failed batch in parts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

import orjson

from ..model import ProviderTrace

_MAX_DEPTH: Final = 200  # below orjson's own nesting limit (254)


@runtime_checkable
class TraceSink(Protocol):
    async def write_batch(self, traces: Sequence[ProviderTrace]) -> None: ...

    async def aclose(self) -> None: ...


def json_text(value: object) -> str:
    """``value`` (a request or response body) as JSON text, whatever it holds.

    Non-string keys are written as strings, as the SDKs send them (``logit_bias={50256: -100}``);
    objects JSON has no type for, as their ``str()``. What orjson still refuses (an int beyond 64
    bits, a lone surrogate, a tuple as a key, nesting past its limit, a cycle) is made plain first:
    such ints and keys become strings, lone surrogates ``?``, what nests too deep or loops a marker.
    """
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps(_plain(value, ())).decode()


def _plain(value: object, path: tuple[int, ...]) -> object:
    """``value`` with only what orjson always writes; ``path`` holds the ids of the containers above."""
    if value is None or isinstance(value, (bool, float)):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, (dict, list, tuple)):
        if id(value) in path:
            return "<cycle>"
        if len(path) >= _MAX_DEPTH:
            return "<nested too deep>"
        inner = (*path, id(value))
        if isinstance(value, dict):
            return {_plain_key(key): _plain(item, inner) for key, item in value.items()}
        return [_plain(item, inner) for item in value]
    return _plain(str(value), path)


def _plain_key(key: object) -> str:
    return (key if isinstance(key, str) else str(key)).encode("utf-8", "replace").decode("utf-8")
