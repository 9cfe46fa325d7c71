"""The battery's checks, one module each, each registered by name in ``CHECK_REGISTRY`` when this
package is imported. ``protocol.CHECKS`` is the order they are reported in; a new check is a
module here and its name there."""

from __future__ import annotations

from . import cancellation, chunking, faults, outcome, request, snapshot, streaming, traces
from .registry import CHECK_REGISTRY, Check, register

__all__ = [
    "CHECK_REGISTRY",
    "Check",
    "cancellation",
    "chunking",
    "faults",
    "outcome",
    "register",
    "request",
    "snapshot",
    "streaming",
    "traces",
]
