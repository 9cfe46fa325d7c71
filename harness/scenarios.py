"""The scenario catalogue: per provider and API, the request to send and what the emulator answers.

A scenario has two halves:

- ``request(api, model, for_emulator)``: the keyword arguments for the real SDK call
  (``chat.completions.create``, ``responses.create``, ``messages.create``). They are written to make a
  live model do the thing as well (tools with ``tool_choice`` forcing a call, Anthropic's documented
  redacted-thinking trigger, a prompt long enough to cache or to overflow the context). Against the
  emulator the context-overflow prompt is shortened so the cassette stays small: the emulator picks
  its answer from the scenario name, not from the prompt.
- ``answer``: a provider-neutral ``Reply`` (output blocks, stop, usage) or ``Failure``; the emulator
  renders it in each format's own shape (``harness/formats/<name>.py``).

``applies_to(api, provider)`` says where a scenario exists; ``skip_reason(api, provider)`` says why it
does not (Chat Completions never exposes reasoning, so reasoning/redacted_thinking are skipped
there). The provider picks the api's format when several speak it (``harness.formats.format_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..adapters.errors import StreamproofError
from .formats import APIS, FORMATS, HarnessFormat, format_for
from .replies import (
    Answer,
    Block,
    Failure,
    FailureKind,
    Reasoning,
    RedactedReasoning,
    Refusal,
    Reply,
    RequestShape,
    ScriptUsage,
    Stop,
    Text,
    ToolUse,
)

__all__ = [  # the reply types live in replies.py; they are named here too, where scenarios are
    "Answer",
    "Block",
    "Failure",
    "FailureKind",
    "Reasoning",
    "RedactedReasoning",
    "Refusal",
    "Reply",
    "RequestShape",
    "ScriptUsage",
    "Stop",
    "Text",
    "ToolUse",
]

# Each api's first format: the provider and model a bare ``--api`` means.
PROVIDER_FOR_API: dict[str, str] = {api: format_for(api).provider for api in APIS}
DEFAULT_MODELS: dict[str, str] = {api: format_for(api).default_model for api in APIS}

SCENARIO_HEADER = "x-streamproof-scenario"
SCENARIO_MODEL_PREFIX = "streamproof-"  # a model named ``streamproof-<scenario>`` selects it too


# mypy checks harness/ apart from adapters/, so the base class can read as Any there
class ScenarioError(StreamproofError):  # type: ignore[misc,unused-ignore]
    """An unknown scenario, or one asked of an API it does not exist for."""


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
    skip: dict[str, str]  # api or format name -> why this scenario does not exist there

    def applies_to(self, api: str, provider: str | None = None) -> bool:
        return api in APIS and self.skip_reason(api, provider) is None

    def skip_reason(self, api: str, provider: str | None = None) -> str | None:
        if api not in APIS:
            return self.skip.get(api)
        fmt = format_for(api, provider)
        return self.skip.get(fmt.api) or self.skip.get(fmt.name)

    def request(
        self, api: str, model: str | None = None, *, for_emulator: bool = True, provider: str | None = None
    ) -> dict[str, Any]:
        """The SDK call's keyword arguments for ``api`` as ``provider`` speaks it (its format)."""
        if not self.applies_to(api, provider):
            raise ScenarioError(
                f"scenario {self.name!r} does not exist for api {api!r}: {self.skip_reason(api, provider)}"
            )
        shape = self.shape
        if self.name == "context_overflow" and not for_emulator:
            shape = RequestShape(
                prompt="overflow " * 600_000
            )  # ~600k tokens: past 128k, 200k and 400k windows
        fmt = format_for(api, provider)
        return fmt.request_kwargs(shape, model or fmt.default_model)


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


def catalogue_formats() -> list[tuple[HarnessFormat, str]]:
    """Every (format, scenario) that exists, in registry then catalogue order."""
    return [
        (fmt, s.name) for fmt in FORMATS.values() for s in _SCENARIOS if s.applies_to(fmt.api, fmt.provider)
    ]


def model_for(api: str, scenario_name: str, model: str | None = None, provider: str | None = None) -> str:
    """The model a scenario asks for: unknown_model always asks for a model that does not exist."""
    fmt = format_for(api, provider)
    if scenario_name == "unknown_model":
        return fmt.unknown_model
    return model or fmt.default_model
