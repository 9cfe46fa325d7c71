"""The one error hierarchy every adapter raises.

Provider SDK exceptions, HTTP error bodies, mid-stream error events and broken streams are all
mapped onto these classes (the per-provider tables live in ``error_mapping.py``). Each ``LLMError``
carries the provider, the HTTP status, the provider's request id and whether a retry may help.

A consumer that stops early (``GeneratorExit``, ``asyncio.CancelledError``) is *not* an error and
never becomes one of these.
"""

from __future__ import annotations


class StreamproofError(Exception):
    """Base of every error streamproof raises on purpose."""


class LLMError(StreamproofError):
    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.code = code
        self.body = body

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                self.provider,
                f"HTTP {self.status}" if self.status is not None else None,
                f"request {self.request_id}" if self.request_id else None,
            )
            if part
        )
        return f"{self.message} ({where})" if where else self.message


class LLMConnectionError(LLMError):
    retryable_by_default = True


class LLMTimeoutError(LLMConnectionError):
    retryable_by_default = True


class LLMRateLimitError(LLMError):
    retryable_by_default = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class LLMInsufficientCreditsError(LLMError):
    """Quota or credits exhausted: a retry will not help (OpenAI 429 ``insufficient_quota``, 402)."""


class LLMBadRequestError(LLMError):
    pass


class LLMContextWindowExceededError(LLMBadRequestError):
    pass


class LLMAuthenticationError(LLMError):
    pass


class LLMPermissionDeniedError(LLMError):
    pass


class LLMNotFoundError(LLMError):
    pass


class LLMUnprocessableEntityError(LLMError):
    pass


class LLMServerError(LLMError):
    retryable_by_default = True


class LLMProviderOverloadedError(LLMServerError):
    retryable_by_default = True


class LLMEmptyResponseError(LLMError):
    retryable_by_default = True


class LLMIncompleteStreamError(LLMError):
    """The stream ended (or was cut) before the provider's terminator."""

    retryable_by_default = True


class MalformedStreamError(LLMError):
    """The bytes are not a valid stream of this wire format (bad SSE, bad JSON, wrong event order)."""


class CassetteError(StreamproofError):
    """A cassette file that cannot be read; names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class BillingHeaderError(StreamproofError):
    """An ``X-Billing-*`` header whose value breaks a rule; the message names the header and the rule."""

    def __init__(self, header: str, problem: str) -> None:
        super().__init__(f"{header}: {problem}")
        self.header = header
        self.problem = problem


class AdapterConfigError(StreamproofError):
    """An adapter or client set up wrongly (unknown provider, a request it cannot send); says what."""
