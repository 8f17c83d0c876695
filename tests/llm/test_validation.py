"""Request checks: any input is either accepted or refused with a named field."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aimesh.llm.v1 import llm_pb2
from services.common.errors import InvalidArgument, NotFound
from services.llm.catalogue import DEFAULT_CATALOGUE_PATH, load_catalogue
from services.llm.validation import check_generation, resolve_model

CATALOGUE = load_catalogue(DEFAULT_CATALOGUE_PATH)

messages = st.lists(
    st.builds(
        llm_pb2.Message,
        role=st.sampled_from(["system", "user", "assistant", "", "tool", "USER", "x" * 300]),
        content=st.text(max_size=200),
    ),
    max_size=6,
)
fields: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "model": st.sampled_from(["", "gpt-4o", "smollm2-135m", "nope", "claude-3-5-haiku"]),
        "max_tokens": st.integers(min_value=-(2**31), max_value=2**31 - 1),
        "temperature": st.floats(width=32, allow_nan=True, allow_infinity=True),
        "top_p": st.floats(width=32, allow_nan=True, allow_infinity=True),
        "stop": st.lists(st.text(max_size=300), max_size=6),
        "seed": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "response_format": st.integers(min_value=0, max_value=2**31 - 1),
    },
)


@settings(max_examples=300, deadline=None)
@given(fields)
def test_any_request_is_accepted_or_refused_with_a_field(request_fields: dict[str, Any]) -> None:
    request = llm_pb2.GenerateRequest(**request_fields)
    try:
        spec = resolve_model(CATALOGUE, request.model, CATALOGUE.default_model)
        chat = check_generation(request, spec)
    except InvalidArgument as exc:
        assert exc.violations and all(field for field, _ in exc.violations)
        return
    except NotFound as exc:
        assert exc.metadata["field"] == "model"
        return
    assert chat.messages and 0 <= chat.max_tokens <= spec.max_output_tokens
    assert chat.temperature is None or 0 <= chat.temperature <= 2
    assert chat.top_p is None or 0 < chat.top_p <= 1
    assert len(chat.stop) <= 4
