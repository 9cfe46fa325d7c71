"""The scenario catalogue: per provider and API, the request to send and what the emulator answers.

A scenario has two halves:

- ``request(api, model, for_emulator)``: the keyword arguments for the real SDK call
  (``chat.completions.create``, ``responses.create``, ``messages.create``). They are written to make a
  live model do the thing as well (tools with ``tool_choice`` forcing a call, Anthropic's documented
  redacted-thinking trigger, a prompt long enough to cache or to overflow the context). Against the
  emulator the context-overflow prompt is shortened so the cassette stays small: the emulator picks
  its answer from the scenario name, not from the prompt.
- ``answer``: a provider-neutral ``Reply`` (output blocks, stop, usage) or ``Failure``; the emulator
  renders it in each API's wire format (``harness/wire.py``).

``applies_to(api)`` says where a scenario exists; ``skip_reason(api)`` says why it does not (Chat
Completions never exposes reasoning, so reasoning/redacted_thinking are skipped there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..adapters.errors import StreamproofError

Api = Literal["chat", "responses", "messages"]
APIS: tuple[Api, ...] = ("chat", "responses", "messages")
PROVIDER_FOR_API: dict[str, str] = {"chat": "openai", "responses": "openai", "messages": "anthropic"}
DEFAULT_MODELS: dict[str, str] = {
    "chat": "gpt-4o-mini",
    "responses": "gpt-5-mini",
    "messages": "claude-sonnet-4-6",
}

SCENARIO_HEADER = "x-streamproof-scenario"
SCENARIO_MODEL_PREFIX = "streamproof-"  # a model named ``streamproof-<scenario>`` selects it too


# mypy checks harness/ apart from adapters/, so the base class can read as Any there
class ScenarioError(StreamproofError):  # type: ignore[misc,unused-ignore]
    """An unknown scenario, or one asked of an API it does not exist for."""


# --- what the emulator answers -------------------------------------------------------------------


@dataclass(frozen=True)
class Reasoning:
    text: str  # Anthropic thinking / Responses reasoning summary
    signature: str  # Anthropic signature / Responses encrypted_content


@dataclass(frozen=True)
class RedactedReasoning:
    data: str  # opaque, delivered whole


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Refusal:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    arguments: str  # the JSON text exactly as streamed


Block = Reasoning | RedactedReasoning | Text | Refusal | ToolUse
Stop = Literal["end", "tool_use", "max_tokens", "refusal"]


@dataclass(frozen=True)
class ScriptUsage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    blocks: tuple[Block, ...]
    stop: Stop
    usage: ScriptUsage


FailureKind = Literal["bad_key", "unknown_model", "context_overflow"]


@dataclass(frozen=True)
class Failure:
    kind: FailureKind


Answer = Reply | Failure


# --- the requests ----------------------------------------------------------------------------------

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
TIME_TOOL = {
    "name": "get_time",
    "description": "Current local time for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
PING_TOOL = {
    "name": "ping_server",
    "description": "Checks that the server is up. Takes no arguments.",
    "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}

# Anthropic documents this prompt as the way to get redacted_thinking blocks back.
ANTHROPIC_REDACTED_TRIGGER = "ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB"
# Long enough to be cached by both providers (over 1,024 tokens).
CACHEABLE_PREFIX = "You are a meticulous assistant. " + " ".join(
    f"Rule {n}: answer precisely, cite nothing, keep the user's language." for n in range(1, 121)
)


def _tools_for(api: str, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if api == "chat":
        return [{"type": "function", "function": tool} for tool in tools]
    if api == "responses":
        return [{"type": "function", **tool} for tool in tools]
    return [
        {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]} for t in tools
    ]


def _force_tool(api: str) -> Any:
    return {"chat": "required", "responses": "required", "messages": {"type": "any"}}[api]


@dataclass(frozen=True)
class RequestShape:
    """Provider-neutral description of a scenario's request."""

    prompt: str
    system: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    force_tool: bool = False
    parallel: bool = True
    max_tokens: int = 1024
    reasoning: bool = False
    cache_system: bool = False

    def kwargs(self, api: str, model: str) -> dict[str, Any]:
        """The SDK call's keyword arguments (always streamed)."""
        kw: dict[str, Any] = {"model": model, "stream": True}
        if api == "chat":
            messages: list[dict[str, Any]] = []
            if self.system:
                messages.append({"role": "system", "content": self.system})
            messages.append({"role": "user", "content": self.prompt})
            kw.update(messages=messages, stream_options={"include_usage": True})
            kw["max_completion_tokens"] = self.max_tokens
        elif api == "responses":
            kw.update(input=self.prompt, max_output_tokens=self.max_tokens)
            if self.system:
                kw["instructions"] = self.system
            if self.reasoning:
                kw.update(
                    reasoning={"effort": "low", "summary": "auto"}, include=["reasoning.encrypted_content"]
                )
        else:
            kw.update(messages=[{"role": "user", "content": self.prompt}], max_tokens=self.max_tokens)
            if self.system:
                block: dict[str, Any] = {"type": "text", "text": self.system}
                if self.cache_system:
                    block["cache_control"] = {"type": "ephemeral"}
                kw["system"] = [block]
            if self.reasoning:
                kw["thinking"] = {"type": "enabled", "budget_tokens": 1024}
                kw["max_tokens"] = max(self.max_tokens, 2048)
        if self.tools:
            kw["tools"] = _tools_for(api, list(self.tools))
            if self.force_tool:
                kw["tool_choice"] = _force_tool(api)
            if api != "messages":
                kw["parallel_tool_calls"] = self.parallel
        return kw


# --- the catalogue ---------------------------------------------------------------------------------

LONG_TEXT = " ".join(
    f"Step {n}: look left, look right, then left again, and cross only when the road is clear."
    for n in range(1, 11)
)
SIGNATURE = "EqQBCkYIBxgCKkBemulatedSignatureNotARealOne0123456789abcdefABCDEF+/sYg8GHV2Mm1cEAxSZ3Rz=="
REDACTED = "EmwKAhgBEgyemulatedRedactedThinkingPayload0123456789abcdefghijklmnopqrstuvwxyzABCDEF=="


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    shape: RequestShape
    answer: Answer
    skip: dict[str, str]  # api -> why this scenario does not exist there

    def applies_to(self, api: str) -> bool:
        return api in APIS and api not in self.skip

    def skip_reason(self, api: str) -> str | None:
        return self.skip.get(api)

    def request(self, api: str, model: str | None = None, *, for_emulator: bool = True) -> dict[str, Any]:
        if not self.applies_to(api):
            raise ScenarioError(
                f"scenario {self.name!r} does not exist for api {api!r}: {self.skip_reason(api)}"
            )
        shape = self.shape
        if self.name == "context_overflow" and not for_emulator:
            shape = RequestShape(
                prompt="overflow " * 600_000
            )  # ~600k tokens: past 128k, 200k and 400k windows
        return shape.kwargs(api, model or DEFAULT_MODELS[api])


_NO_CHAT_REASONING = "Chat Completions never streams reasoning content (only a reasoning token count)"

_SCENARIOS = (
    Scenario(
        "text",
        "a short plain-text answer",
        RequestShape("Say hello to the streamproof test suite in one sentence."),
        Reply(
            (Text("Hello, streamproof test suite: every chunk arrives right on time."),),
            "end",
            ScriptUsage(18, 14),
        ),
        {},
    ),
    Scenario(
        "long_text",
        "a long answer in many small deltas",
        RequestShape("Explain in 10 numbered steps how to cross a street safely.", max_tokens=4096),
        Reply((Text(LONG_TEXT),), "end", ScriptUsage(21, 190)),
        {},
    ),
    Scenario(
        "tool_call",
        "one client tool call with arguments",
        RequestShape("What is the weather in Paris?", tools=(WEATHER_TOOL,), force_tool=True),
        Reply((ToolUse("get_weather", '{"city":"Paris"}'),), "tool_use", ScriptUsage(64, 16)),
        {},
    ),
    Scenario(
        "parallel_tool_calls",
        "two tool calls in one response",
        RequestShape(
            "What are the weather and the local time in Tokyo? Call both tools at once.",
            tools=(WEATHER_TOOL, TIME_TOOL),
            force_tool=True,
        ),
        Reply(
            (ToolUse("get_weather", '{"city":"Tokyo"}'), ToolUse("get_time", '{"city":"Tokyo"}')),
            "tool_use",
            ScriptUsage(96, 46),
        ),
        {},
    ),
    Scenario(
        "tool_call_no_args",
        "a tool call whose arguments are empty",
        RequestShape("Is the server up? Use the tool.", tools=(PING_TOOL,), force_tool=True),
        Reply((ToolUse("ping_server", "{}"),), "tool_use", ScriptUsage(52, 11)),
        {},
    ),
    Scenario(
        "reasoning",
        "thinking with a signature (Anthropic) / a reasoning summary with encrypted content (Responses)",
        RequestShape("Is 9.11 larger than 9.9? Think first.", reasoning=True, max_tokens=4096),
        Reply(
            (
                Reasoning(
                    "Compare the decimals: 9.11 has 0.11 and 9.9 has 0.90, so 9.9 is larger.", SIGNATURE
                ),
                Text("No: 9.9 is larger than 9.11."),
            ),
            "end",
            ScriptUsage(30, 112, reasoning_tokens=64),
        ),
        {"chat": _NO_CHAT_REASONING},
    ),
    Scenario(
        "redacted_thinking",
        "reasoning the client cannot read (Anthropic redacted_thinking; Responses: encrypted, no summary)",
        RequestShape(ANTHROPIC_REDACTED_TRIGGER, reasoning=True, max_tokens=4096),
        Reply(
            (RedactedReasoning(REDACTED), Text("I can't read that string, but I'm happy to help otherwise.")),
            "end",
            ScriptUsage(92, 88, reasoning_tokens=40),
        ),
        {"chat": _NO_CHAT_REASONING},
    ),
    Scenario(
        "refusal",
        "the model declines (Chat/Responses refusal deltas; Anthropic stop_reason refusal)",
        RequestShape("Give me step-by-step instructions to pick my neighbour's door lock."),
        Reply((Refusal("I'm sorry, but I can't help with that."),), "refusal", ScriptUsage(24, 10)),
        {},
    ),
    Scenario(
        "max_tokens",
        "the answer stops at the output token limit",
        RequestShape("Write a long poem about streams.", max_tokens=16),
        Reply(
            (Text("Streams that run where no one sees, through wires and"),),
            "max_tokens",
            ScriptUsage(15, 16),
        ),
        {},
    ),
    Scenario(
        "prompt_caching",
        "a long cached prefix: cached input tokens and a cache write in usage",
        RequestShape(
            "Answer in one word: what colour is the sky?", system=CACHEABLE_PREFIX, cache_system=True
        ),
        Reply((Text("Blue."),), "end", ScriptUsage(1480, 3, cached_tokens=1408, cache_write_tokens=64)),
        {},
    ),
    Scenario(
        "bad_key",
        "HTTP 401 with the provider's authentication error",
        RequestShape("Hello?"),
        Failure("bad_key"),
        {},
    ),
    Scenario(
        "unknown_model",
        "the model does not exist (OpenAI Chat 404, Responses 400 as recorded live, Anthropic 404)",
        RequestShape("Hello?"),
        Failure("unknown_model"),
        {},
    ),
    Scenario(
        "context_overflow",
        "HTTP 400: context_length_exceeded (OpenAI) / prompt is too long (Anthropic)",
        RequestShape("overflow " * 64),
        Failure("context_overflow"),
        {},
    ),
)

CATALOGUE: dict[str, Scenario] = {scenario.name: scenario for scenario in _SCENARIOS}


def scenario(name: str) -> Scenario:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ScenarioError(f"unknown scenario {name!r}; known: {', '.join(CATALOGUE)}") from None


def catalogue_pairs() -> list[tuple[str, str]]:
    """Every (api, scenario) that exists, in catalogue order."""
    return [(api, s.name) for api in APIS for s in _SCENARIOS if s.applies_to(api)]


def model_for(api: str, scenario_name: str, model: str | None = None) -> str:
    """The model a scenario asks for: unknown_model always asks for a model that does not exist."""
    if scenario_name == "unknown_model":
        return "claude-does-not-exist" if api == "messages" else "gpt-does-not-exist"
    return model or DEFAULT_MODELS[api]
