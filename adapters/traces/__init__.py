"""Provider traces: the record (``model``), the background writer (``writer``) and where traces go
(``sinks``: memory, SQLite, OpenTelemetry, ClickHouse)."""

from .model import ProviderTrace, TraceContext, TraceLLMConfig, TraceStatus
from .sinks.base import TraceSink
from .writer import TraceWriter, WriterStats

__all__ = [
    "ProviderTrace",
    "TraceContext",
    "TraceLLMConfig",
    "TraceSink",
    "TraceStatus",
    "TraceWriter",
    "WriterStats",
]
