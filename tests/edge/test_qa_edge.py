"""QA's findings through a real edge in front of scripted dependencies
(tests/edge/harness.py): budgets held by Ask, refusals of prompts too long,
usage of cancelled streams, the reset time, rejection counts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from aimesh.edge.v1 import edge_pb2
from aimesh.llm.v1 import llm_pb2
from aimesh.retrieval.v1 import retrieval_pb2
from tests.edge.harness import Edge, start_edge, status_error
from tests.edge.mesh import details, user


@pytest.fixture
async def edge(tmp_path: Path) -> AsyncIterator[Edge]:
    running = await start_edge(tmp_path)
    try:
        yield running
    finally:
        await running.stop()


async def usage(edge: Edge) -> edge_pb2.GetUsageResponse:
    return await edge.stub.GetUsage(edge_pb2.GetUsageRequest(), metadata=edge.auth, timeout=10)


async def test_an_ask_holds_a_bound_of_its_prompt_not_the_model_window(edge: Edge) -> None:
    chunk = "Carrots are orange root vegetables. " * 20  # 720 bytes
    edge.retrieval.results = [
        retrieval_pb2.SearchResult(
            document_id=f"d{i}", title=f"D{i}", text=chunk, start=0, end=len(chunk), score=0.9
        )
        for i in range(5)
    ]
    edge.retrieval.release.clear()
    call = edge.stub.Ask(
        edge_pb2.AskRequest(question="What colour are carrots?", model="big", max_tokens=300),
        metadata=edge.auth,
        timeout=30,
    )
    await asyncio.wait_for(edge.retrieval.searching.wait(), 10)
    # While retrieval runs: the question, template and answer at most, not 1M tokens.
    held = (await usage(edge)).spent_micros
    assert held < 10_000, held  # a cent; the whole window would be ~$3.15
    edge.retrieval.release.set()
    await asyncio.sleep(0)
    response = await call
    assert response.text == "fine, thank you"
    # Settled to what the llm reported; nothing is left reserved.
    assert (await usage(edge)).spent_micros == response.cost_micros


async def test_ask_reservation_covers_the_prompt_actually_sent(edge: Edge) -> None:
    """The budget still refuses what it cannot cover: a prompt whose sources
    cost more than what is left is refused before the model is called."""
    chunk = "x" * 3000
    edge.retrieval.results = [
        retrieval_pb2.SearchResult(
            document_id=f"d{i}", title="", text=chunk, start=0, end=len(chunk), score=0.9
        )
        for i in range(20)
    ]
    edge.app.tiers["test"] = replace(edge.app.tiers["test"], daily_budget_micros=60_000)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.stub.Ask(
            edge_pb2.AskRequest(question="What is x?", model="big", top_k=20, max_tokens=1000),
            metadata=edge.auth,
            timeout=30,
        )
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not edge.llm.requests
    assert (await usage(edge)).spent_micros == 0


def rejections(rpc: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("aimesh_edge_rejections_total", {"rpc": rpc, "reason": reason})
        or 0.0
    )


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    found = details(error).get("BadRequest")
    return [v.field for v in found.field_violations] if found else []  # type: ignore[attr-defined]


async def test_a_cjk_prompt_too_long_for_the_window_is_refused_naming_messages(
    edge: Edge,
) -> None:
    """10,200 Chinese characters are over 10,000 tokens, not 3,400: the edge
    refuses them for a 4,096-token window itself, naming the field."""
    before = rejections("Chat", "PROMPT_TOO_LONG")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await edge.stub.Chat(
            edge_pb2.ChatRequest(messages=user("中文文本" * 2550), model="small"),
            metadata=edge.auth,
            timeout=30,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(raised.value) == ["messages"]
    assert not edge.llm.requests
    assert rejections("Chat", "PROMPT_TOO_LONG") == before + 1


async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
    """The llm refusing a prompt too long for the model by its tokenizer's count."""
    await context.abort_with_status(
        status_error(
            grpc.StatusCode.INVALID_ARGUMENT,
            "messages: the prompt does not fit",
            violations=[("messages", "the prompt (5000 tokens) does not fit small's window")],
            reason="INVALID_ARGUMENT",
        )
    )


async def refuse_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    await refuse(request, context)
    yield llm_pb2.GenerateStreamResponse()  # never reached


async def test_the_llms_refusal_as_invalid_is_invalid_argument_naming_the_field(
    edge: Edge,
) -> None:
    edge.llm.generate = refuse
    edge.llm.stream = refuse_stream
    edge.retrieval.results = [
        retrieval_pb2.SearchResult(
            document_id="d", title="D", text="Some text. " * 30, start=0, end=330, score=0.9
        )
    ]
    before = rejections("ChatStream", "MODEL_REFUSED")
    chat = edge_pb2.ChatRequest(messages=user("Привет " * 500), model="small")
    calls = {
        "messages": [
            lambda: edge.stub.Chat(chat, metadata=edge.auth, timeout=30),
            lambda: collect(
                edge.stub.ChatStream(
                    edge_pb2.ChatStreamRequest(messages=chat.messages, model="small"),
                    metadata=edge.auth,
                    timeout=30,
                )
            ),
        ],
        # Ask's prompt is the sources and the question: the client sent the question.
        "question": [
            lambda: edge.stub.Ask(
                edge_pb2.AskRequest(question="What is it?", model="small"),
                metadata=edge.auth,
                timeout=30,
            ),
            lambda: collect(
                edge.stub.AskStream(
                    edge_pb2.AskStreamRequest(question="What is it?", model="small"),
                    metadata=edge.auth,
                    timeout=30,
                )
            ),
        ],
    }
    for field_name, attempts in calls.items():
        for attempt in attempts:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await attempt()
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert violations(raised.value) == [field_name]
            found = details(raised.value)["BadRequest"]
            assert "does not fit" in found.field_violations[0].description  # type: ignore[attr-defined]
    assert len(edge.llm.requests) == 4
    assert rejections("ChatStream", "MODEL_REFUSED") == before + 1
    # Nothing was charged, nothing is held.
    assert (await usage(edge)).spent_micros == 0


async def collect(call: Any) -> list[Any]:
    return [message async for message in call]


async def test_a_cancelled_stream_counts_and_logs_the_tokens_it_is_charged_for(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    cancelled = asyncio.Event()

    async def first_then_hang(
        request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        yield llm_pb2.GenerateStreamResponse(
            text="Once upon a time", model="small", provider="local"
        )
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    edge.llm.stream = first_then_hang
    labels = {"tenant": edge.tenant, "model": "small"}
    call = edge.stub.ChatStream(
        edge_pb2.ChatStreamRequest(messages=user("Tell me a story about a fox."), model="small"),
        metadata=edge.auth,
        timeout=30,
    )
    with caplog.at_level(logging.INFO, logger="services.edge.pipeline"):
        first = await call.read()
        assert first.text == "Once upon a time"
        call.cancel()
        await asyncio.wait_for(cancelled.wait(), 10)
        for _ in range(100):
            if any(r.message == "generation" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    [line] = [r for r in caplog.records if r.message == "generation"]
    # Estimated as the charge is: prompt characters / 3, output characters / 3.
    assert (line.input_tokens, line.output_tokens) == (10, 6)  # type: ignore[attr-defined]
    assert line.usage_estimated and not line.complete  # type: ignore[attr-defined]
    assert line.cost_micros == 10 * 1 + 6 * 2  # type: ignore[attr-defined]
    tokens = REGISTRY.get_sample_value
    assert tokens("aimesh_edge_tokens_total", {**labels, "direction": "input"}) == 10
    assert tokens("aimesh_edge_tokens_total", {**labels, "direction": "output"}) == 6
    assert (await usage(edge)).spent_micros == 22


async def test_usage_resets_at_the_next_midnight_utc(edge: Edge) -> None:
    resets_at = (await usage(edge)).resets_at.seconds
    assert resets_at % 86_400 == 0
    assert 0 < resets_at - time.time() <= 86_400


async def test_invalid_requests_are_counted_as_rejections(edge: Edge) -> None:
    cases = [
        ("Chat", lambda: edge.stub.Chat(edge_pb2.ChatRequest(), metadata=edge.auth, timeout=10)),
        (
            "Ask",
            lambda: edge.stub.Ask(edge_pb2.AskRequest(top_k=99), metadata=edge.auth, timeout=10),
        ),
        (
            "Search",
            lambda: edge.stub.Search(edge_pb2.SearchRequest(), metadata=edge.auth, timeout=10),
        ),
        (
            "IngestDocuments",
            lambda: edge.stub.IngestDocuments(
                edge_pb2.IngestDocumentsRequest(), metadata=edge.auth, timeout=10
            ),
        ),
    ]
    for rpc, attempt in cases:
        before = rejections(rpc, "INVALID_ARGUMENT")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await attempt()
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rejections(rpc, "INVALID_ARGUMENT") == before + 1, rpc
    # Limits that need the model: max_tokens over its output limit, and a prompt
    # that leaves no room for the answer asked for.
    invalid_before = rejections("Chat", "INVALID_ARGUMENT")
    too_long_before = rejections("Chat", "PROMPT_TOO_LONG")
    for max_tokens, text in ((5000, "hi"), (1000, "word " * 2000)):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await edge.stub.Chat(
                edge_pb2.ChatRequest(messages=user(text), model="small", max_tokens=max_tokens),
                metadata=edge.auth,
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rejections("Chat", "INVALID_ARGUMENT") == invalid_before + 1
    assert rejections("Chat", "PROMPT_TOO_LONG") == too_long_before + 1
