"""LlmService over gRPC on embedded defaults: the real service process with
its embedded llama.cpp server, no key, no network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from tests.llm.grpc_helpers import details, scrape, user
from tests.support import ServiceProcess


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    env = {
        "AIMESH_LLM_LOCAL_PARALLEL": "1",
        "AIMESH_LLM_LOCAL_QUEUE_MAX": "1",
        "AIMESH_LLM_LOCAL_THREADS": "1",  # steadier than 2 on a shared, busy machine
    }
    with ServiceProcess("llm", env) as process:
        yield process


@pytest.fixture
async def stub(service: ServiceProcess) -> AsyncIterator[llm_pb2_grpc.LlmServiceStub]:
    async with grpc.aio.insecure_channel(service.target) as channel:
        yield llm_pb2_grpc.LlmServiceStub(channel)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    """The error a unary call or a whole stream ends with; it must end with one."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if isinstance(call, grpc.aio.UnaryStreamCall):
            async for _ in call:
                pass
        else:
            await call
    return caught.value


async def test_stream_sends_tokens_one_by_one_then_usage(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    request = llm_pb2.GenerateStreamRequest(messages=user("Say something nice."), max_tokens=6)
    replies = [r async for r in stub.GenerateStream(request, timeout=120)]
    pieces, final = replies[:-1], replies[-1]
    assert len([p for p in pieces if p.text]) >= 2
    assert all(p.model == "smollm2-135m" and p.provider == "local" for p in replies)
    assert final.finish_reason in (llm_pb2.FINISH_REASON_STOP, llm_pb2.FINISH_REASON_LENGTH)
    assert final.usage.input_tokens > 0 and final.usage.output_tokens >= len(pieces)
    assert final.cost_micros == 0 and not final.incomplete and not final.usage_estimated
    assert final.time_to_first_token.ToNanoseconds() > 0
    assert final.latency.ToNanoseconds() >= final.time_to_first_token.ToNanoseconds()


async def test_generate_answers_with_everything(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(messages=user("Hi"), max_tokens=4, temperature=0.0), timeout=120
    )
    assert reply.text and reply.model == "smollm2-135m" and reply.provider == "local"
    assert reply.usage.output_tokens <= 4 and reply.usage.input_tokens > 0
    assert reply.finish_reason != llm_pb2.FINISH_REASON_UNSPECIFIED
    assert not reply.fallback_used and reply.latency.ToNanoseconds() > 0


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [llm_pb2.Message(role="wizard", content="x")]}, "messages[0].role"),
        ({"messages": [llm_pb2.Message(role="system", content="x")]}, "messages"),
        ({"messages": user("x"), "temperature": 2.5}, "temperature"),
        ({"messages": user("x"), "top_p": 0.0}, "top_p"),
        ({"messages": user("x"), "max_tokens": 100_000}, "max_tokens"),
        ({"messages": user("x"), "max_tokens": -1}, "max_tokens"),
        ({"messages": user("x"), "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": user("x"), "response_format": 7}, "response_format"),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    stub: llm_pb2_grpc.LlmServiceStub, request_fields: dict[str, Any], field: str
) -> None:
    for rpc, message in (
        (stub.Generate, llm_pb2.GenerateRequest),
        (stub.GenerateStream, llm_pb2.GenerateStreamRequest),
    ):
        call = rpc(message(**request_fields), timeout=30)
        caught = await refused(call)
        assert caught.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad_request = (await details(call))["BadRequest"]
        assert [v.field for v in bad_request.field_violations] == [field]


async def test_unknown_model_is_not_found(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    call = stub.Generate(llm_pb2.GenerateRequest(model="gpt-17", messages=user("x")), timeout=30)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    info = (await details(call))["ErrorInfo"]
    assert info.reason == "MODEL_NOT_FOUND" and info.metadata["field"] == "model"


async def test_list_models_describes_the_catalogue(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    reply = await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=30)
    models = {m.name: m for m in reply.models}
    assert reply.default_model == "smollm2-135m"
    local = models["smollm2-135m"]
    assert local.available and local.provider == "local" and local.circuit_state == "closed"
    gpt = models["gpt-4o"]
    assert not gpt.available and gpt.unavailable_reason == "no credentials"
    assert gpt.context_window == 128000 and gpt.max_output_tokens == 16384
    assert gpt.input_micros_per_million_tokens == 2_500_000
    assert list(gpt.fallbacks)[-1] == "smollm2-135m"


async def test_count_tokens(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    messages = user("How many tokens is this?")
    local = await stub.CountTokens(llm_pb2.CountTokensRequest(messages=messages), timeout=30)
    assert local.exact and local.tokenizer.startswith("gguf:") and local.model == "smollm2-135m"
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(messages=messages, max_tokens=1), timeout=120
    )
    assert reply.usage.input_tokens == local.input_tokens  # the server counts the same
    gpt = await stub.CountTokens(
        llm_pb2.CountTokensRequest(model="gpt-4o", messages=messages), timeout=30
    )
    assert gpt.exact and gpt.tokenizer == "o200k_base" and gpt.input_tokens == 3 + 3 + 1 + 6
    claude = await stub.CountTokens(
        llm_pb2.CountTokensRequest(model="claude-3-5-sonnet", messages=messages), timeout=30
    )
    assert not claude.exact and claude.tokenizer == "estimate" and claude.input_tokens > 0


def fallbacks(metrics_port: int, from_model: str, to_model: str, reason: str) -> float:
    labels = {"from_model": from_model, "to_model": to_model, "reason": reason}
    for family in text_string_to_metric_families(scrape(metrics_port)):
        for sample in family.samples:
            if sample.name == "aimesh_llm_fallbacks_total" and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def test_paid_model_without_key_falls_back_to_the_local_model(
    stub: llm_pb2_grpc.LlmServiceStub, service: ServiceProcess
) -> None:
    # gpt-4o -> claude-3-5-sonnet -> gpt-4o-mini -> smollm2-135m: three hops, all for want of a key.
    hops = [
        ("gpt-4o", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet", "gpt-4o-mini"),
        ("gpt-4o-mini", "smollm2-135m"),
    ]
    before = [fallbacks(service.metrics_port, *hop, "no_credentials") for hop in hops]
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(model="gpt-4o", messages=user("Hi"), max_tokens=2), timeout=120
    )
    assert reply.model == "smollm2-135m" and reply.fallback_used and reply.cost_micros == 0
    after = [fallbacks(service.metrics_port, *hop, "no_credentials") for hop in hops]
    assert after == [n + 1 for n in before]


@pytest.mark.parametrize("model", ["", "gpt-4o-mini"])
async def test_prompt_too_long_for_the_first_model_tried_is_invalid_argument(
    stub: llm_pb2_grpc.LlmServiceStub, model: str
) -> None:
    """With no key the paid models are skipped: the local model is the first
    one tried, and its refusal of a prompt longer than its window is the
    caller's fault (no RetryInfo to retry by), as with the default model."""
    long = user("word " * 6000)  # about 6000 tokens: more than the local window (4096)
    for rpc, message in (
        (stub.Generate, llm_pb2.GenerateRequest),
        (stub.GenerateStream, llm_pb2.GenerateStreamRequest),
    ):
        call = rpc(message(model=model, messages=long, max_tokens=4), timeout=60)
        caught = await refused(call)
        assert caught.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.details()
        found = await details(call)
        assert [v.field for v in found["BadRequest"].field_violations] == ["messages"]
        assert "RetryInfo" not in found


async def test_full_queue_is_resource_exhausted(
    stub: llm_pb2_grpc.LlmServiceStub, service: ServiceProcess
) -> None:
    """One slot, one waiting place: a third concurrent request is refused at once."""
    long = llm_pb2.GenerateStreamRequest(
        messages=user("Count from 1 to 1000, separated by commas."), max_tokens=1024
    )
    first = stub.GenerateStream(long, timeout=120)
    await first.read()  # the first holds the only slot and is generating
    second = stub.GenerateStream(long, timeout=120)
    for _ in range(600):  # until the second has taken the waiting place
        if "aimesh_llm_local_queue_waiting 1.0" in scrape(service.metrics_port):
            break
        await asyncio.sleep(0.05)
    third = stub.GenerateStream(long, timeout=120)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in third:
            pass
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    found = await details(third)
    assert found["ErrorInfo"].reason == "LOCAL_MODEL_BUSY" and "RetryInfo" in found
    first.cancel()
    second.cancel()
    # Cancelled callers give their places back: the slot serves the next request.
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(messages=user("Hi"), max_tokens=2), timeout=120
    )
    assert reply.usage.output_tokens >= 1
    assert "aimesh_llm_local_slots_busy 0.0" in scrape(service.metrics_port)
