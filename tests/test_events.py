"""The canonical model's fast constructor builds exactly what validation builds."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from streamproof.adapters.events import StreamEvent, TextDelta, trusted_text_delta

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
