"""The canonical model's fast constructor builds exactly what validation builds."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from streamproof.adapters.events import RunUsage, StreamEvent, TextDelta, Usage, trusted_text_delta

_STREAM_EVENT = TypeAdapter(StreamEvent)


@settings(max_examples=200, derandomize=True)
@given(message_id=st.text(), event_id=st.text(), text=st.text())
def test_trusted_text_delta_is_the_validated_event(message_id: str, event_id: str, text: str) -> None:
    fast = trusted_text_delta(message_id, event_id, text)
    validated = TextDelta(message_id=message_id, event_id=event_id, text=text)
    assert type(fast) is TextDelta
    assert fast == validated and hash(fast) == hash(validated)
    assert fast.__dict__ == validated.__dict__
    assert list(fast.__dict__) == list(validated.__dict__)  # same field order: same dumps
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_extra is None and fast.__pydantic_private__ is None
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert repr(fast) == repr(validated)
    assert _STREAM_EVENT.validate_python(fast.model_dump()) == fast


def test_a_trusted_text_delta_behaves_like_any_event() -> None:
    fast = trusted_text_delta("msg-1", "msg-1:1", "hi")
    with pytest.raises(ValidationError, match="frozen"):
        fast.text = "changed"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert copy.deepcopy(fast) == fast
    changed = fast.model_copy(update={"text": "bye"})
    assert changed.text == "bye" and fast.text == "hi"
    assert fast.model_fields_set == {"message_id", "event_id", "text"}  # the copy's update did not leak
    other = trusted_text_delta("msg-1", "msg-1:2", "hi")
    assert other.model_fields_set is not fast.model_fields_set


@pytest.mark.parametrize("count", [2**63, 2**64, -1, True, 5.0, "5"])
def test_a_usage_count_is_a_non_negative_int_that_fits_in_63_bits(count: object) -> None:
    # what SQLite INTEGER and ClickHouse Int64 store; a bool, float or string is not a count
    for field in Usage.model_fields:
        with pytest.raises(ValidationError, match="a usage count is a non-negative integer below 2"):
            Usage(**{field: count})
    assert Usage(prompt_tokens=2**63 - 1, completion_tokens=0).prompt_tokens == 2**63 - 1


def test_a_runs_summed_usage_saturates_at_the_limit() -> None:
    run = RunUsage()
    run.add(Usage(prompt_tokens=2**62, completion_tokens=1))
    summed = run.add(Usage(prompt_tokens=2**62, completion_tokens=2))
    assert (summed.prompt_tokens, summed.completion_tokens, summed.step_count) == (2**63 - 1, 3, 2)
