"""One module per wire format, found by name in ``FORMATS``; each yields the canonical events of ``events.py``.

- ``openai_chat``: OpenAI Chat Completions and OpenAI-compatible servers
- ``openai_responses``: OpenAI Responses
- ``anthropic_messages``: Anthropic Messages (and compatible endpoints)
- ``bedrock_messages``: Anthropic Messages on Amazon Bedrock (AWS event-stream framing)

A format's module holds all the adapters layer knows of it: its streaming interface (reading the
frames of its framing, ``framing/``), its client over the official SDK, its error table, its URL
rule (``matches_url``) and, where a provider speaks several formats, which requests are its own
(``takes_request``). The registry entry names them; the module is imported on first use, and
importing it imports no SDK (replaying cassettes needs only the interface and the error table).

A format's ``api`` is the replay JSON contract's word (``chat``, ``responses``, ``messages``);
code that has an api (a cassette, a case) and needs the format asks ``format_for(api, provider)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, cast

from ..errors import AdapterConfigError, LLMError
from ..framing import Framing, framing_named

if TYPE_CHECKING:
    from ..clients import ProviderClient
    from .base import StreamingInterface


class ErrorTable(Protocol):
    """HTTP status + error body (or a mid-stream error's body, status None) -> the ``LLMError``."""

    def __call__(
        self,
        status: int | None,
        body: Any,
        *,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        provider: str = ...,
    ) -> LLMError: ...


OPENAI_PROVIDERS = frozenset(
    {"openai", "openrouter", "deepseek", "groq", "mistral", "ollama", "vllm", "lmstudio"}
)
ANTHROPIC_PROVIDERS = frozenset({"anthropic", "minimax"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})


@dataclass(frozen=True)
class WireFormat:
    name: str  # the registry key, in every layer
    api: str  # chat | responses | messages
    provider: str  # whose format it is: what a loopback URL of it is classified as
    framing: str  # a key of framing.FRAMINGS
    sdk: str  # the SDK its client drives: whose exceptions its error table reads
    providers: frozenset[str]  # the providers whose calls go out in this format
    hosts: tuple[str, ...]  # its provider's service's host names (glob patterns)
    interface_class: str  # names in the format's module
    client_class: str
    error_table: str

    def module(self) -> ModuleType:
        return importlib.import_module(f"{__name__}.{self.name}")

    def interface(self) -> type[StreamingInterface]:
        return cast("type[StreamingInterface]", getattr(self.module(), self.interface_class))

    def client(self) -> Callable[..., ProviderClient]:
        """The client class (built with ``api_key``, ``base_url``, ``http_client``, ``transport``, ...)."""
        return cast("Callable[..., ProviderClient]", getattr(self.module(), self.client_class))

    def map_error(self) -> ErrorTable:
        return cast(ErrorTable, getattr(self.module(), self.error_table))

    def matches(self, host: str, path: str) -> bool:
        """A request to ``host`` + ``path`` is one of this format's (replay classification)."""
        return cast(bool, self.module().matches_url(host, path))

    def takes(self, request_data: Mapping[str, Any]) -> bool:
        """A call with this body goes out in this format (for a provider that speaks several)."""
        takes = getattr(self.module(), "takes_request", None)
        return True if takes is None else cast(bool, takes(request_data))

    def streamed_request(self, request_data: Mapping[str, Any], provider: str) -> dict[str, Any]:
        """The body of a streamed call: ``stream`` on, plus what the format needs for it."""
        prepare = getattr(self.module(), "streamed_request", None)
        payload = {**request_data, "stream": True}
        return payload if prepare is None else cast("dict[str, Any]", prepare(payload, provider))

    def framing_of(self) -> Framing:
        return framing_named(self.framing)

    @property
    def content_type(self) -> str:
        """What "streamed" means for it: the content type of its framing."""
        return self.framing_of().content_type


FORMATS: dict[str, WireFormat] = {
    f.name: f
    for f in (
        WireFormat(
            "openai_chat", "chat", "openai", "sse", "openai", OPENAI_PROVIDERS, ("*openai.com",),
            "OpenAIChatInterface", "OpenAIClient", "map_openai_error",
        ),
        WireFormat(
            "openai_responses", "responses", "openai", "sse", "openai", OPENAI_PROVIDERS, ("*openai.com",),
            "OpenAIResponsesInterface", "OpenAIClient", "map_openai_error",
        ),
        WireFormat(
            "anthropic_messages", "messages", "anthropic", "sse", "anthropic", ANTHROPIC_PROVIDERS,
            ("*anthropic.com",), "AnthropicMessagesInterface", "AnthropicClient", "map_anthropic_error",
        ),
        WireFormat(
            "bedrock_messages", "messages", "bedrock", "eventstream", "anthropic", frozenset({"bedrock"}),
            ("bedrock-runtime.*.amazonaws.com", "bedrock-runtime-fips.*.amazonaws.com"),
            "BedrockMessagesInterface", "BedrockClient", "map_bedrock_error",
        ),
    )
}  # fmt: skip


def format_named(name: str) -> WireFormat:
    """The format called ``name``; a ``ValueError`` naming the known ones otherwise."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise ValueError(f"no wire format {name!r} (known: {', '.join(FORMATS)})")
    return fmt


def format_for(api: str, provider: str | None = None) -> WireFormat:
    """The format of ``api`` (``chat`` / ``responses`` / ``messages``) as ``provider`` speaks it.

    Without a provider, or for one no format names, the api's first format (the original
    provider's): ``("messages", None)`` is ``anthropic_messages``.
    """
    candidates = [f for f in FORMATS.values() if f.api == api]
    if not candidates:
        apis = ", ".join(dict.fromkeys(f.api for f in FORMATS.values()))
        raise ValueError(f"no wire format for api {api!r} (expected one of: {apis})")
    if provider is not None:
        for fmt in candidates:
            if fmt.provider == provider:
                return fmt
        for fmt in candidates:
            if provider in fmt.providers:
                return fmt
    return candidates[0]


def interface_for_api(api: str, provider: str | None = None) -> type[StreamingInterface]:
    """The streaming interface class of ``format_for(api, provider)``."""
    return format_for(api, provider).interface()


def format_for_url(host: str, path: str) -> WireFormat | None:
    """The format of a request to ``host`` + ``path``; None for any other request (api ``other``)."""
    for fmt in FORMATS.values():
        if fmt.matches(host, path):
            return fmt
    return None


def provider_for_url(host: str, path: str) -> str:
    """The provider of a recorded request: by its service's host name, else (loopback: an emulator
    or a local server) by the format of its path; any other host is named as it is."""
    for fmt in FORMATS.values():
        if any(fnmatchcase(host, pattern) for pattern in fmt.hosts):
            return fmt.provider
    if host in LOOPBACK_HOSTS:
        by_path = format_for_url(host, path)
        return by_path.provider if by_path is not None else (host or "unknown")
    return host


def formats_serving(provider: str) -> list[WireFormat]:
    """The formats ``provider``'s calls go out in; an ``AdapterConfigError`` for an unknown provider."""
    found = [f for f in FORMATS.values() if provider in f.providers]
    if not found:
        known = ", ".join(sorted(set().union(*(f.providers for f in FORMATS.values()))))
        raise AdapterConfigError(f"unknown provider {provider!r}; expected one of: {known}")
    return found


def format_for_request(provider: str, request_data: Mapping[str, Any]) -> WireFormat:
    """The format a call of ``provider`` with this body goes out in, as the original routes it."""
    served = formats_serving(provider)
    for fmt in served:
        if fmt.takes(request_data):
            return fmt
    return served[-1]


def error_table_for(sdk: str, provider: str) -> ErrorTable:
    """The error table for an exception of ``sdk`` in a call to ``provider``."""
    for fmt in FORMATS.values():
        if fmt.sdk == sdk and provider in fmt.providers:
            return fmt.map_error()
    for fmt in FORMATS.values():
        if fmt.sdk == sdk:
            return fmt.map_error()
    raise ValueError(f"no wire format is served by the {sdk!r} SDK")


__all__ = [
    "FORMATS",
    "ErrorTable",
    "WireFormat",
    "error_table_for",
    "format_for",
    "format_for_request",
    "format_for_url",
    "format_named",
    "formats_serving",
    "interface_for_api",
    "provider_for_url",
]
