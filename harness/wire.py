"""What every wire format's rendering shares, knowing no format: the ``WireContext`` of one rendered
response (request, model, seeded RNG), word-sized text deltas and argument pieces as providers
stream them, one SSE event's bytes, and the ``ErrorReply`` an error kind renders to. The formats
themselves are in ``harness/formats/<name>.py``.
"""

from __future__ import annotations

import random
import re
import string
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

_ALNUM = string.ascii_letters + string.digits
_WORDS = re.compile(r"\s*\S+")


@dataclass
class WireContext:
    """Everything one rendered response needs besides the reply: the request and a seeded RNG."""

    api: str
    model: str
    request: dict[str, Any]
    rng: random.Random = field(default_factory=random.Random)
    created: int = field(default_factory=lambda: int(time.time()))

    def token(self, n: int, alphabet: str = _ALNUM) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def obfuscation(self) -> str:
        return self.token(self.rng.randint(0, 15))


def text_pieces(text: str) -> list[str]:
    """Word-sized deltas, each with its leading space, as providers stream them."""
    return _WORDS.findall(text) or [text]


def argument_pieces(arguments: str, rng: random.Random) -> list[str]:
    pieces, pos = [], 0
    while pos < len(arguments):
        step = rng.randint(3, 8)
        pieces.append(arguments[pos : pos + step])
        pos += step
    return pieces


def sse(data: dict[str, Any], event: str | None = None, pad: str = "") -> bytes:
    body = orjson.dumps(data)
    if pad:
        body = body[:-1] + pad.encode() + b"}"
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + body + b"\n\n"


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()
