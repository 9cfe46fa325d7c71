"""Where traces go. Every sink implements ``TraceSink`` (see ``base``); import a sink from its module
(``.memory``, ``.sqlite``, ``.otel``, ``.clickhouse``) so optional dependencies load only when used."""

from .base import TraceSink

__all__ = ["TraceSink"]
