"""Billing context from X-Billing-* headers: accepted shapes, and each rule that rejects a value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streamproof.adapters.billing import (
    COST_SOURCES,
    CUSTOMER_ID_MAX_LENGTH,
    PLAN_TYPE_MAX_LENGTH,
    BillingContext,
    billing_context_from_headers,
)
from streamproof.adapters.errors import BillingHeaderError, StreamproofError


def test_all_three_headers_read_case_insensitively() -> None:
    context = billing_context_from_headers(
        {
            "x-billing-plan-type": "enterprise-2024",
            "X-BILLING-COST-SOURCE": "Credits",
            "X-Billing-Customer-Id": "cus_81F.x@acme",
            "Authorization": "Bearer not-billing",
        }
    )
    assert context == BillingContext(
        plan_type="enterprise-2024", cost_source="credits", customer_id="cus_81F.x@acme"
    )


def test_no_billing_headers_gives_none() -> None:
    assert billing_context_from_headers({"Content-Type": "application/json"}) is None
    assert billing_context_from_headers({}) is None


def test_partial_headers_leave_the_rest_unset() -> None:
    context = billing_context_from_headers({"X-Billing-Customer-Id": "c-1"})
    assert context == BillingContext(customer_id="c-1")
    assert context is not None and context.plan_type is None and context.cost_source is None


def test_surrounding_http_whitespace_is_ignored() -> None:
    context = billing_context_from_headers({"X-Billing-Plan-Type": " \tpro\t "})
    assert context is not None and context.plan_type == "pro"


@pytest.mark.parametrize("source", sorted(COST_SOURCES))
def test_every_documented_cost_source_is_accepted(source: str) -> None:
    context = billing_context_from_headers({"X-Billing-Cost-Source": source.upper()})
    assert context is not None and context.cost_source == source


def test_works_with_an_http_headers_object() -> None:
    import httpx

    headers = httpx.Headers([("x-billing-plan-type", "team"), ("x-billing-cost-source", "byok")])
    assert billing_context_from_headers(headers) == BillingContext(plan_type="team", cost_source="byok")


@pytest.mark.parametrize(
    ("headers", "header", "fragment"),
    [
        ({"X-Billing-Cost-Source": "paypal"}, "X-Billing-Cost-Source", "not a known cost source"),
        ({"X-Billing-Plan-Type": ""}, "X-Billing-Plan-Type", "must not be empty"),
        ({"X-Billing-Customer-Id": "   "}, "X-Billing-Customer-Id", "must not be empty"),
        ({"X-Billing-Cost-Source": ""}, "X-Billing-Cost-Source", "must not be empty"),
        (
            {"X-Billing-Plan-Type": "p" * (PLAN_TYPE_MAX_LENGTH + 1)},
            "X-Billing-Plan-Type",
            f"{PLAN_TYPE_MAX_LENGTH + 1} characters long; the limit is {PLAN_TYPE_MAX_LENGTH}",
        ),
        (
            {"X-Billing-Customer-Id": "c" * (CUSTOMER_ID_MAX_LENGTH + 1)},
            "X-Billing-Customer-Id",
            f"the limit is {CUSTOMER_ID_MAX_LENGTH}",
        ),
        ({"X-Billing-Cost-Source": "credits-and-more"}, "X-Billing-Cost-Source", "characters long"),
        ({"X-Billing-Customer-Id": "cus\r\nX-Evil: 1"}, "X-Billing-Customer-Id", "control or non-ASCII"),
        ({"X-Billing-Customer-Id": "cus\x00"}, "X-Billing-Customer-Id", "'\\x00' at position 3"),
        ({"X-Billing-Plan-Type": "pro\x7f"}, "X-Billing-Plan-Type", "control or non-ASCII"),
        ({"X-Billing-Customer-Id": "kunde-ü"}, "X-Billing-Customer-Id", "control or non-ASCII"),
        ({"X-Billing-Customer-Id": "cus 1"}, "X-Billing-Customer-Id", "whitespace"),
        ({"X-Billing-Plan-Type": "pro plan"}, "X-Billing-Plan-Type", "not a plan token"),
        ({"X-Billing-Plan-Type": "-pro"}, "X-Billing-Plan-Type", "not a plan token"),
        (
            {"X-Billing-Plan-Type": "pro", "x-billing-plan-type": "free"},
            "X-Billing-Plan-Type",
            "more than once with different values",
        ),
    ],
)
def test_bad_values_are_rejected_naming_header_and_rule(
    headers: dict[str, str], header: str, fragment: str
) -> None:
    with pytest.raises(BillingHeaderError) as caught:
        billing_context_from_headers(headers)
    assert caught.value.header == header
    assert str(caught.value).startswith(f"{header}: ")
    assert fragment in str(caught.value)
    assert isinstance(caught.value, StreamproofError)


def test_repeated_header_with_the_same_value_is_fine() -> None:
    context = billing_context_from_headers({"X-Billing-Plan-Type": "pro", "x-billing-plan-type": "pro"})
    assert context == BillingContext(plan_type="pro")


def test_non_string_header_value_is_rejected() -> None:
    with pytest.raises(BillingHeaderError, match="must be a string, got int"):
        billing_context_from_headers({"X-Billing-Customer-Id": 42})  # type: ignore[dict-item]


def test_the_model_enforces_the_same_rules_when_built_directly() -> None:
    with pytest.raises(ValidationError, match="not a known cost source"):
        BillingContext(cost_source="gift-card")
    with pytest.raises(ValidationError, match="control or non-ASCII"):
        BillingContext(customer_id="a\tb")
    assert BillingContext(cost_source="FREE").cost_source == "free"


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(
        ["X-Billing-Plan-Type", "X-Billing-Cost-Source", "X-Billing-Customer-Id", "x-billing-x"]
    ),
    value=st.text(max_size=200),
)
def test_any_header_value_gives_a_context_or_a_billing_error(name: str, value: str) -> None:
    try:
        context = billing_context_from_headers({name: value})
    except BillingHeaderError as error:
        assert str(error).startswith(f"{error.header}: ") and error.problem
        return
    if name == "x-billing-x":
        assert context is None
    else:
        assert context is not None
        stored = [v for v in context.model_dump().values() if v is not None]
        assert len(stored) == 1 and all(" " <= char <= "~" for char in stored[0])
