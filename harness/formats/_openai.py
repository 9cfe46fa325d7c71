"""What OpenAI's two formats (Chat Completions, Responses) share: the error body, the errors that
read the same on both, request ids and the ``openai`` SDK client."""

from __future__ import annotations

import secrets
from typing import Any

from ..wire import ErrorReply
from . import HarnessFormat


def openai_error(status: int, message: str, kind: str, code: str | None, param: str | None = None) -> ErrorReply:
    return ErrorReply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})


class OpenAIFormat(HarnessFormat):
    provider = "openai"
    request_id_header = "x-request-id"
    unknown_model = "gpt-does-not-exist"
    canonical_host = "api.openai.com"
    key_env = "OPENAI_API_KEY"

    def new_request_id(self) -> str:
        return "req_" + secrets.token_hex(16)

    def _error(self, kind: str, model: str, request_id: str) -> ErrorReply:
        if kind == "bad_key":
            return openai_error(
                401,
                "Incorrect API key provided: sk-***. You can find your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if kind == "rate_limit":
            return openai_error(
                429,
                f"Rate limit reached for {model or 'this model'} on requests per min (RPM): Limit 500, Used 500, "
                "Requested 1. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                "rate_limit_exceeded",
            )
        if kind == "quota":  # out of credits: OpenAI says so with a 429, which is no rate limit
            return openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if kind == "server_error":
            return openai_error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        if kind == "unavailable":
            return openai_error(503, "Service Unavailable", "server_error", None)
        if kind == "overloaded":  # OpenAI has no 529: it answers 503 with this message
            return openai_error(
                503, "The engine is currently overloaded, please try again later", "server_error", None
            )
        return self._request_error(kind, model)

    def _request_error(self, kind: str, model: str) -> ErrorReply:
        """unknown_model and context_overflow, which Chat and Responses answer differently."""
        raise NotImplementedError

    def invalid_request(self, message: str, request_id: str = "", param: str | None = None) -> ErrorReply:
        return openai_error(400, message, "invalid_request_error", None, param)

    def client(self, *, key: str, base_url: str | None, source: str, http_client: Any) -> Any:
        import openai

        if base_url is not None and source == "emulator" and not base_url.rstrip("/").endswith("/v1"):
            base_url = base_url.rstrip("/") + "/v1"
        return openai.OpenAI(api_key=key, base_url=base_url, http_client=http_client, max_retries=0)
