"""Billing context: who pays for an LLM call, carried from the caller into its provider trace.

``BillingContext`` has three optional fields:

- ``plan_type``    the caller's plan, a short token: 1-64 characters of ``A-Z a-z 0-9 . _ -``,
                   starting with a letter or digit (e.g. ``pro``, ``enterprise-2024``).
- ``cost_source``  who bears the provider cost, one of ``COST_SOURCES`` (case-insensitive on input,
                   stored lowercase):
                   ``credits`` (the platform's prepaid credits), ``byok`` (the customer's own provider
                   key), ``subscription`` (covered by a flat plan), ``free`` (a free tier / not billed).
- ``customer_id``  1-128 printable ASCII characters, no whitespace.

``billing_context_from_headers(headers)`` reads ``X-Billing-Plan-Type``, ``X-Billing-Cost-Source`` and
``X-Billing-Customer-Id`` (names case-insensitive; surrounding spaces and tabs are ignored, as HTTP
does) and returns ``None`` when none is present. Headers come from outside, so every value is checked:
an empty value, a control or non-ASCII character, a value over its length limit, a plan type that is
not a token, an unknown cost source, or the same header given twice with different values raises
``BillingHeaderError`` naming the header and the rule broken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pydantic import BaseModel, ConfigDict, field_validator

from .errors import BillingHeaderError

COST_SOURCES = frozenset({"credits", "byok", "subscription", "free"})
PLAN_TYPE_MAX_LENGTH = 64
CUSTOMER_ID_MAX_LENGTH = 128

PLAN_TYPE_HEADER = "X-Billing-Plan-Type"
COST_SOURCE_HEADER = "X-Billing-Cost-Source"
CUSTOMER_ID_HEADER = "X-Billing-Customer-Id"

_PLAN_TYPE_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HTTP_OPTIONAL_WHITESPACE = " \t"


def _check_printable(value: str, max_length: int) -> None:
    if value == "":
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"is {len(value)} characters long; the limit is {max_length}")
    for position, char in enumerate(value):
        if not (" " <= char <= "~"):
            raise ValueError(f"holds a control or non-ASCII character {char!r} at position {position}")


def check_plan_type(value: str) -> str:
    _check_printable(value, PLAN_TYPE_MAX_LENGTH)
    if not _PLAN_TYPE_SHAPE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a plan token (letters, digits, '.', '_', '-'; starting with a letter or digit)"
        )
    return value


def check_cost_source(value: str) -> str:
    _check_printable(value, max(len(source) for source in COST_SOURCES))
    normalized = value.lower()
    if normalized not in COST_SOURCES:
        raise ValueError(f"{value!r} is not a known cost source; expected one of {sorted(COST_SOURCES)}")
    return normalized


def check_customer_id(value: str) -> str:
    _check_printable(value, CUSTOMER_ID_MAX_LENGTH)
    if " " in value:
        raise ValueError("must not contain whitespace")
    return value


class BillingContext(BaseModel):
    """Who pays for a call. Every field is optional; each set field obeys the rules in the module doc."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    plan_type: str | None = None
    cost_source: str | None = None
    customer_id: str | None = None

    @field_validator("plan_type")
    @classmethod
    def _valid_plan_type(cls, value: str | None) -> str | None:
        return None if value is None else check_plan_type(value)

    @field_validator("cost_source")
    @classmethod
    def _valid_cost_source(cls, value: str | None) -> str | None:
        return None if value is None else check_cost_source(value)

    @field_validator("customer_id")
    @classmethod
    def _valid_customer_id(cls, value: str | None) -> str | None:
        return None if value is None else check_customer_id(value)


_HEADER_RULES: dict[str, tuple[str, Callable[[str], str]]] = {
    PLAN_TYPE_HEADER.lower(): ("plan_type", check_plan_type),
    COST_SOURCE_HEADER.lower(): ("cost_source", check_cost_source),
    CUSTOMER_ID_HEADER.lower(): ("customer_id", check_customer_id),
}
_CANONICAL_NAMES = {name.lower(): name for name in (PLAN_TYPE_HEADER, COST_SOURCE_HEADER, CUSTOMER_ID_HEADER)}


def billing_context_from_headers(headers: Mapping[str, str]) -> BillingContext | None:
    """The billing context the ``X-Billing-*`` headers describe, ``None`` when none is present.

    Raises ``BillingHeaderError`` for any value that breaks a rule (see the module doc).
    """
    raw: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key not in _HEADER_RULES:
            continue
        header = _CANONICAL_NAMES[key]
        if not isinstance(value, str):
            raise BillingHeaderError(header, f"must be a string, got {type(value).__name__}")
        value = value.strip(_HTTP_OPTIONAL_WHITESPACE)
        if key in raw and raw[key] != value:
            raise BillingHeaderError(header, "given more than once with different values")
        raw[key] = value
    if not raw:
        return None
    fields: dict[str, str] = {}
    for key, value in raw.items():
        field, check = _HEADER_RULES[key]
        try:
            fields[field] = check(value)
        except ValueError as problem:
            raise BillingHeaderError(_CANONICAL_NAMES[key], str(problem)) from None
    return BillingContext(**fields)
