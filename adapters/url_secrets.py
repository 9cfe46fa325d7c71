"""Secrets in URLs: which query parameters hold one, and a URL with them (and its user:password) gone.

One rule for every place a URL is kept: the cassette scrubber (``harness.scrub``), ``scan``, and the
trace store's base URL (``traces.model.TraceLLMConfig.endpoint``). Services spell the names every
way: ``key``, ``api_key``, ``apiKey``, ``API_KEY``, ``Token``, ``access_token``, AWS's presigned
``X-Amz-Signature`` / ``X-Amz-Credential`` / ``X-Amz-Security-Token``, Google's
``X-Goog-Signature``, Azure SAS ``sig``: a name that *ends* in one of the words below, in any case.
Ending, not containing: ``author`` or ``design`` is no secret.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

# Name endings (regex alternatives) of query parameters whose values are secrets.
SECRET_PARAM_ENDINGS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "sig",
    "signature",
    "auth",
    "credential",
    "credentials",
)
SECRET_PARAM_NAME = re.compile(f"(?:{'|'.join(SECRET_PARAM_ENDINGS)})$", re.IGNORECASE)
URL_SECRET_PLACEHOLDER = "<REDACTED:url-secret>"


def is_secret_param(name: str) -> bool:
    """Whether a query parameter called ``name`` (percent-encoded or not) carries a secret."""
    return SECRET_PARAM_NAME.search(unquote_plus(name).strip()) is not None


def _redacted_pairs(query: str) -> str:
    pairs = []
    for pair in re.split(r"([&;])", query):
        name, equals, value = pair.partition("=")
        if equals and value and is_secret_param(name):
            pair = f"{name}={URL_SECRET_PLACEHOLDER}"
        pairs.append(pair)
    return "".join(pairs)


def redact_url(url: str) -> str:
    """``url`` without its user info (``user:password@``, or a bare token before ``@``) and with the
    value of every secret query (or fragment) parameter replaced by ``URL_SECRET_PLACEHOLDER``.
    Anything else is kept as written. Text that is no URL comes back unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: not a URL we can take apart
        return url
    netloc = parts.netloc.rpartition("@")[2]
    cleaned = parts._replace(
        netloc=netloc, query=_redacted_pairs(parts.query), fragment=_redacted_pairs(parts.fragment)
    )
    if cleaned == parts:
        return url  # untouched: keep the exact spelling (urlunsplit normalizes a few things)
    return urlunsplit(cleaned)
