"""One streaming interface per wire format, all yielding the canonical events of ``events.py``.

- ``openai_chat.OpenAIChatInterface``: OpenAI Chat Completions and OpenAI-compatible servers
- ``openai_responses.OpenAIResponsesInterface``: OpenAI Responses
- ``anthropic_messages.AnthropicMessagesInterface``: Anthropic Messages (and compatible endpoints)
"""

from __future__ import annotations

from .base import StreamingInterface


def interface_for_api(api: str) -> type[StreamingInterface]:
    """The interface class for ``chat`` / ``responses`` / ``messages``."""
    if api == "chat":
        from .openai_chat import OpenAIChatInterface

        return OpenAIChatInterface
    if api == "responses":
        from .openai_responses import OpenAIResponsesInterface

        return OpenAIResponsesInterface
    if api == "messages":
        from .anthropic_messages import AnthropicMessagesInterface

        return AnthropicMessagesInterface
    raise ValueError(f"no streaming interface for api {api!r} (expected chat, responses or messages)")


__all__ = ["StreamingInterface", "interface_for_api"]
