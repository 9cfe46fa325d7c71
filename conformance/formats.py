"""What the conformance suite needs to know of each wire format, by the format's name.

The registry key is the one every layer uses (``openai_chat``, ``openai_responses``,
``anthropic_messages``); a case keeps its recorded ``api`` (and provider), and ``format_named``
finds its format. This table imports nothing: the oracle looks formats up here too, and must stay
apart from the reference adapter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class SuiteFormat:
    """One wire format as the battery drives it."""

    name: str
    api: str  # the word a cassette and the replay contract use
    providers: tuple[str, ...]  # the providers that are this format; () = any provider of the api
    api_key: str  # the key-shaped string (invented) the suite hands the adapter
    endpoint: re.Pattern[str]  # the endpoint at the end of the request URI; the base URL is before it
    content_type: str  # what a streamed response says it is
    # a ``data: [DONE]`` after the terminal event is no part of the format (OpenRouter sends one)
    done_after_end: bool = False
    # where the URL, not the body, says a stream is wanted (Bedrock): the streamed endpoint
    streamed_path: re.Pattern[str] | None = None
    model_path: re.Pattern[str] | None = None  # where the URL's path names the model (group ``model``)
    # AWS credentials (invented) for a format whose client signs requests instead of sending a key
    credentials: tuple[tuple[str, str], ...] = ()

    def base_url(self, uri: str) -> str:
        """The base URL the adapter's client is pointed at, from the recorded request URI."""
        uri = uri.split("?")[0]
        found = self.endpoint.search(uri)
        return uri[: found.start()] if found else uri.rsplit("/", 1)[0]

    def asks_stream(self, request: Any, uri: str) -> bool:
        """The recorded request asked for a stream (its ``stream`` flag; or its path, where the
        format says it there)."""
        if self.streamed_path is not None:
            return bool(self.streamed_path.search(uri.split("?")[0]))
        return isinstance(request, dict) and request.get("stream") is True

    def model(self, request: Any, uri: str) -> str:
        """The model the recorded request asked for: in the URL's path where the format puts it
        there (URL-encoded), else the body's ``model``."""
        if self.model_path is not None:
            found = self.model_path.search(uri.split("?")[0])
            return unquote(found["model"]) if found else ""
        model = request.get("model") if isinstance(request, dict) else None
        return model if isinstance(model, str) else ""

    def is_stream(self, content_type: str) -> bool:
        """A response of this content type is the format's stream."""
        return content_type == self.content_type


_SSE = "text/event-stream"
SUITE_FORMATS: dict[str, SuiteFormat] = {
    spec.name: spec
    for spec in (
        SuiteFormat(
            "openai_chat",
            "chat",
            (),
            "sk-streamproof-conformance",
            re.compile(r"/chat/completions$"),
            _SSE,
        ),
        SuiteFormat(
            "openai_responses",
            "responses",
            (),
            "sk-streamproof-conformance",
            re.compile(r"/responses$"),
            _SSE,
            done_after_end=True,
        ),
        SuiteFormat(
            "anthropic_messages",
            "messages",
            (),
            "sk-ant-api03-streamproof-conformance",
            re.compile(r"/v1/messages$"),
            _SSE,
        ),
        SuiteFormat(
            "bedrock_messages",
            "messages",
            ("bedrock",),
            "",  # Bedrock signs the request (SigV4) with the credentials below: no key is sent
            re.compile(r"/model/[^/]+/invoke(-with-response-stream)?/?$"),
            "application/vnd.amazon.eventstream",
            streamed_path=re.compile(r"/invoke-with-response-stream/?$"),
            model_path=re.compile(r"/model/(?P<model>[^/]+)/invoke(-with-response-stream)?/?$"),
            credentials=(
                ("aws_access_key", "AKIDSTREAMPROOFCONFORMANCE"),
                ("aws_secret_key", "streamproof-conformance-invented-secret-key"),
                ("aws_region", "us-east-1"),
            ),
        ),
    )
}


def find_format(api: str, provider: str | None = None) -> SuiteFormat | None:
    """The format a case of ``api`` from ``provider`` is: one that names the provider first, then
    the api's provider-free one; None for an api no format speaks (the harness's ``other``)."""
    fallback = None
    for spec in SUITE_FORMATS.values():
        if spec.api != api:
            continue
        if provider is not None and provider in spec.providers:
            return spec
        if not spec.providers and fallback is None:
            fallback = spec
    return fallback


def format_name(api: str, provider: str | None = None) -> str:
    """The name of ``find_format``'s format; an unknown api is a ``ValueError`` naming the known ones."""
    found = find_format(api, provider)
    if found is None:
        known = ", ".join(sorted({spec.api for spec in SUITE_FORMATS.values()}))
        raise ValueError(f"no wire format speaks api {api!r} (known: {known})")
    return found.name


def suite_format(api: str, provider: str | None = None) -> SuiteFormat:
    """The ``SuiteFormat`` of a case of ``api`` from ``provider``."""
    return SUITE_FORMATS[format_name(api, provider)]
