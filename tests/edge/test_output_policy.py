"""The edge's default output policy leaves dates and weekdays in answers alone
(report-only), with the real guardrails service; the setting can still mask them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from aimesh.edge.v1 import edge_pb2
from aimesh.llm.v1 import llm_pb2
from tests.edge.harness import Edge, reply, start_edge
from tests.edge.mesh import user
from tests.support import ServiceProcess

ANSWER = "The day after Monday is Tuesday, and we eat seventeen carrots every Tuesday."


async def answer(request: Any, context: grpc.aio.ServicerContext) -> Any:
    return reply(ANSWER)


async def answer_in_pieces(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    for word in ANSWER.split(" "):
        yield llm_pb2.GenerateStreamResponse(text=word + " ", model="small", provider="local")
    yield llm_pb2.GenerateStreamResponse(
        model="small",
        provider="local",
        finish_reason=llm_pb2.FINISH_REASON_STOP,
        usage=llm_pb2.Usage(input_tokens=10, output_tokens=14),
        cost_micros=38,
    )


async def chat_both_ways(edge: Edge) -> tuple[str, str]:
    edge.llm.generate, edge.llm.stream = answer, answer_in_pieces
    messages = user("Which day of the week comes after Monday?")
    unary = await edge.stub.Chat(
        edge_pb2.ChatRequest(messages=messages, model="small"), metadata=edge.auth, timeout=60
    )
    streamed = [
        m.text
        async for m in edge.stub.ChatStream(
            edge_pb2.ChatStreamRequest(messages=messages, model="small"),
            metadata=edge.auth,
            timeout=60,
        )
    ]
    return unary.text, "".join(streamed)


async def test_weekdays_in_answers_are_not_masked_by_default_but_can_be(tmp_path: Path) -> None:
    with ServiceProcess("guardrails") as guardrails:
        edge = await start_edge(tmp_path / "default", guardrails_target=guardrails.target)
        try:
            unary, streamed = await chat_both_ways(edge)
        finally:
            await edge.stop()
        assert "Tuesday" in unary and "DATE_TIME" not in unary
        assert streamed.strip() == ANSWER

        masking = await start_edge(
            tmp_path / "masking",
            guardrails_target=guardrails.target,
            output_policy_actions={"DATE_TIME": "redact"},
        )
        try:
            unary, streamed = await chat_both_ways(masking)
        finally:
            await masking.stop()
        assert "Tuesday" not in unary and "<DATE_TIME_" in unary
        assert "Tuesday" not in streamed and "<DATE_TIME_" in streamed


async def test_a_misspelt_policy_type_keeps_the_edge_out_of_rotation(tmp_path: Path) -> None:
    """Guardrails refuses a finding type it does not know; the edge's guardrails check
    fails (NOT_SERVING, with the reason logged) instead of every guarded call failing."""
    with ServiceProcess("guardrails") as guardrails:
        edge = await start_edge(
            tmp_path / "typo",
            guardrails_target=guardrails.target,
            output_policy_actions={"DATE_TIM": "report"},
        )
        try:
            assert not await edge.app.checks()["guardrails"]()
        finally:
            await edge.stop()
        fine = await start_edge(tmp_path / "fine", guardrails_target=guardrails.target)
        try:
            assert await fine.app.checks()["guardrails"]()
        finally:
            await fine.stop()
