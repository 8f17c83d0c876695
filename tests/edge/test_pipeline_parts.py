"""Routing, validation limits, context assembly and citations: pure functions."""

from __future__ import annotations

import pytest
from google.rpc import error_details_pb2

from aimesh.edge.v1 import edge_pb2
from services.common.errors import InvalidArgument
from services.edge import rag
from services.edge.catalogue import Catalogue, ModelInfo
from services.edge.routing import select_model
from services.edge.settings import EdgeSettings
from services.edge.tiers import DEFAULT_TIERS
from services.edge.validation import check_model_limits, validate_chat


def model(name: str, provider: str, price: int, window: int = 8192) -> ModelInfo:
    return ModelInfo(name, provider, window, 1024, price, price * 4, (), True)


CATALOGUE = Catalogue(
    models={
        m.name: m
        for m in (
            model("small", "local", 0, window=4096),
            model("mid", "openai", 150_000),
            model("big", "openai", 2_500_000, window=128_000),
        )
    },
    default_model="small",
)


def route(tier: str, prompt_tokens: int, deadline: float | None) -> str:
    chosen = select_model(
        CATALOGUE,
        DEFAULT_TIERS[tier],
        prompt_tokens,
        deadline,
        fast_deadline_seconds=10,
        complex_prompt_tokens=1500,
    )
    assert chosen is not None
    return chosen.model.name


def test_routing_by_tier_task_and_deadline() -> None:
    assert route("paid", 100, 60) == "small"  # simple: cheapest
    assert route("paid", 3000, 60) == "big"  # complex: most capable
    assert route("paid", 5000, 2) == "mid"  # complex, in a hurry: cheapest that fits
    assert route("free", 3000, 60) == "small"  # free tier: local models only
    assert route("paid", 100_000, 60) == "big"  # only the big window fits


def violations(exc: InvalidArgument) -> list[str]:
    detail = exc.details()[0]
    assert isinstance(detail, error_details_pb2.BadRequest)
    return [v.field for v in detail.field_violations]


def test_chat_validation_names_fields() -> None:
    settings = EdgeSettings()
    request = edge_pb2.ChatRequest(
        messages=[
            edge_pb2.Message(role="user", content="hi"),
            edge_pb2.Message(role="system", content="late system"),
            edge_pb2.Message(role="robot", content=""),
        ],
        temperature=3,
        top_p=0,
        max_tokens=-1,
        stop=["", "x"],
    )
    with pytest.raises(InvalidArgument) as caught:
        validate_chat(request, settings)
    assert violations(caught.value) == [
        "messages[1].role",
        "messages[2].role",
        "messages[2].content",
        "messages[2].role",
        "temperature",
        "top_p",
        "max_tokens",
        "stop[0]",
    ]


def test_max_tokens_against_output_limit_and_window() -> None:
    small = CATALOGUE.models["small"]
    assert check_model_limits(small, 0, 100) == 1024
    assert check_model_limits(small, 0, 3500) == 596
    with pytest.raises(InvalidArgument) as caught:
        check_model_limits(small, 2000, 100)
    assert violations(caught.value) == ["max_tokens"]
    with pytest.raises(InvalidArgument):
        check_model_limits(small, 1000, 3500)


def source(i: int, doc: str, text: str) -> rag.Source:
    return rag.Source(i, doc, doc.title(), text, 0, len(text), 1.0 / i)


def test_context_fits_the_window_and_sources_are_numbered() -> None:
    sources = [source(i, f"d{i}", "word " * 200) for i in range(1, 6)]
    prompt, used = rag.assemble(sources, token_room=900, chars_per_token=3)
    assert [s.index for s in used] == list(range(1, len(used) + 1))
    assert 1 <= len(used) < 5
    assert len(prompt) / 3 <= 900 + 10
    assert "[1] D1" in prompt


def test_citations_are_those_used_and_never_invented() -> None:
    given = [
        source(1, "paris", "Paris is the capital of France."),
        source(2, "tokyo", "Tokyo is the capital of Japan."),
    ]
    assert [s.document_id for s in rag.cited_sources("It is Tokyo [2] [7].", given)] == ["tokyo"]
    by_words = rag.cited_sources("The capital of Japan is Tokyo.", given)
    assert [s.document_id for s in by_words] == ["tokyo"]
    assert rag.cited_sources("anything", []) == []
