"""``LLMConfig``: which model, at which provider and endpoint, an adapter calls.

``provider`` picks the wire format and the SDK (see ``formats.format_for_request``): anthropic, bedrock
and minimax speak Anthropic Messages; openai and the OpenAI-compatible servers (openrouter,
deepseek, groq, mistral, ollama, vllm, lmstudio) speak Chat Completions, or Responses when the
request has ``input`` and no ``messages``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .traces.model import TraceLLMConfig


class LLMConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    provider: str = "openai"
    base_url: str | None = None  # None: the SDK's default endpoint for the provider
    context_window: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None

    def for_trace(self, api: str) -> TraceLLMConfig:
        return TraceLLMConfig(
            model=self.model,
            provider=self.provider,
            endpoint=self.base_url,
            api=api,
            context_window=self.context_window,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
