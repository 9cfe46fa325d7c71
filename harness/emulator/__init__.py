"""The provider emulator: OpenAI Chat, OpenAI Responses and Anthropic Messages on a local socket."""

from .server import EMULATOR_HEADER, Emulator, IncomingRequest

__all__ = ["EMULATOR_HEADER", "Emulator", "IncomingRequest"]
