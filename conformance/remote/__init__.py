"""An adapter in its own interpreter: ``streamproof check --adapter-python PYTHON --adapter MODULE:FACTORY``.

``proxy.RemoteAdapter`` is the adapter the battery drives in-process; it forwards each call to
``streamproof_remote.py`` (one stdlib-only file, run by that interpreter) and serves the call's
response to it on loopback (``loopback.Loopback``).
"""

from __future__ import annotations

import atexit

from ..libraries import LIBRARY_ADAPTERS
from .proxy import RemoteAdapter, RemoteAdapterCrashed
from .proxy import load_remote_adapter as _load

__all__ = ["RemoteAdapter", "RemoteAdapterCrashed", "load_remote_adapter"]

_LOADED: dict[tuple[str, str], RemoteAdapter] = {}


def load_remote_adapter(python: str, spec: str) -> RemoteAdapter:
    """The adapter ``spec`` (MODULE:FACTORY or a library's short name) run by ``python``; one worker
    per interpreter and spec in this process (``streamproof check`` checks it before the suite runs,
    the plugin then drives the same one)."""
    spec = LIBRARY_ADAPTERS[spec][0] if spec in LIBRARY_ADAPTERS else spec
    key = (python, spec)
    if key not in _LOADED:
        _LOADED[key] = _load(python, spec)
    return _LOADED[key]


@atexit.register
def _close_all() -> None:
    for adapter in _LOADED.values():
        adapter.close()
    _LOADED.clear()
