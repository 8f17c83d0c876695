"""LlmService over gRPC with paid providers pointed at the fault-injecting
upstream: fallbacks, UNAVAILABLE with RetryInfo, streams cut short, caller
cancellation reaching the upstream, circuit metrics, secrets kept out of logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from tests.llm.fake_upstream import Behaviour, FakeUpstream
from tests.llm.grpc_helpers import details, scrape, user
from tests.support import ServiceProcess

OPENAI_KEY = "sk-secret-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-secret-0123456789"


@pytest.fixture(scope="module")
async def fake() -> AsyncIterator[FakeUpstream]:
    upstream = await FakeUpstream().start()
    yield upstream
    await upstream.stop()


@pytest.fixture(scope="module")
def service(fake: FakeUpstream) -> Iterator[ServiceProcess]:
    env = {
        "AIMESH_LLM_LOCAL_ENABLED": "false",
        "AIMESH_LLM_OPENAI_API_KEY": OPENAI_KEY,
        "AIMESH_LLM_OPENAI_BASE_URL": fake.openai_base_url,
        "AIMESH_LLM_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "AIMESH_LLM_ANTHROPIC_BASE_URL": fake.anthropic_base_url,
        "AIMESH_LLM_RETRY_BASE_SECONDS": "0.01",
        "AIMESH_LLM_RETRY_MAX_BACKOFF_SECONDS": "0.05",
        "AIMESH_LLM_CIRCUIT_FAILURE_THRESHOLD": "3",
        "AIMESH_LLM_CIRCUIT_COOLDOWN_SECONDS": "3",
    }
    with ServiceProcess("llm", env) as process:
        yield process


@pytest.fixture
async def stub(
    service: ServiceProcess, fake: FakeUpstream
) -> AsyncIterator[llm_pb2_grpc.LlmServiceStub]:
    fake.reset()
    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        await circuits_not_open(stub)  # a previous test may have opened some
        yield stub
    fake.reset()


async def circuits_not_open(stub: llm_pb2_grpc.LlmServiceStub) -> None:
    for _ in range(200):
        reply = await stub.ListModels(llm_pb2.ListModelsRequest(), timeout=5)
        if all(m.circuit_state != "open" for m in reply.models):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("circuits stayed open past their cooldown")


async def test_generate_through_openai(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(model="gpt-4o-mini", messages=user("hello there")), timeout=30
    )
    assert reply.text == "Hello, world!" and reply.provider == "openai"
    assert reply.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert reply.usage.input_tokens == 12 and reply.usage.output_tokens == 4
    # gpt-4o-mini: 12 * 0.15 + 4 * 0.60 = 4.2 micro-dollars
    assert reply.cost_micros == 4
    assert fake.requests[0].body["max_tokens"] == 16384  # 0 means the model's limit


async def test_stream_falls_back_when_openai_keeps_failing(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    fake.then(*[Behaviour.error(503)] * 3)
    request = llm_pb2.GenerateStreamRequest(model="gpt-4o-mini", messages=user("hi"))
    replies = [r async for r in stub.GenerateStream(request, timeout=30)]
    assert "".join(r.text for r in replies) == "Hello, world!"
    final = replies[-1]
    assert final.model == "claude-3-5-haiku" and final.provider == "anthropic"
    assert final.fallback_used and final.usage.output_tokens == 4 and final.cost_micros > 0


async def test_everything_down_is_unavailable_with_retry_info(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    fake.default = Behaviour.error(500)
    call = stub.Generate(llm_pb2.GenerateRequest(model="gpt-4o", messages=user("hi")), timeout=30)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    found = await details(call)
    assert found["ErrorInfo"].reason == "PROVIDERS_UNAVAILABLE"
    assert found["RetryInfo"].retry_delay.ToNanoseconds() > 0
    assert OPENAI_KEY not in (caught.value.details() or "")


async def test_stream_cut_short_is_marked_incomplete(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    fake.then(Behaviour("drop", drop_after=2))
    call = stub.GenerateStream(
        llm_pb2.GenerateStreamRequest(model="gpt-4o", messages=user("hi")), timeout=30
    )
    replies = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for reply in call:
            replies.append(reply)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (await details(call))["ErrorInfo"].reason == "STREAM_INTERRUPTED"
    assert [r.text for r in replies[:-1]] == ["Hello", ","]
    final = replies[-1]
    assert final.incomplete and final.usage_estimated and final.usage.output_tokens == 2
    assert final.cost_micros > 0
    assert len(fake.requests) == 1  # never replayed


async def test_caller_cancel_closes_the_upstream_connection(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    fake.then(Behaviour("slow"))
    call = stub.GenerateStream(
        llm_pb2.GenerateStreamRequest(model="gpt-4o", messages=user("go on")), timeout=60
    )
    for _ in range(3):
        await call.read()
    assert not fake.disconnected.is_set()
    call.cancel()
    await asyncio.wait_for(fake.disconnected.wait(), 15)  # the upstream saw the close


async def test_deadline_bounds_a_hanging_provider(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream
) -> None:
    fake.default = Behaviour("hang")
    call = stub.Generate(llm_pb2.GenerateRequest(model="gpt-4o", messages=user("hi")), timeout=1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(fake.disconnected.wait(), 15)  # and the upstream call was dropped


async def test_circuit_opens_shows_in_metrics_and_recovers(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream, service: ServiceProcess
) -> None:
    open_series = 'aimesh_llm_circuit_state{model="gpt-4.1",provider="openai"} 2.0'
    closed_series = 'aimesh_llm_circuit_state{model="gpt-4.1",provider="openai"} 0.0'
    fake.then(*[Behaviour.error(500)] * 3)
    # gpt-4.1 fails three times (opening its circuit); gpt-4o, its fallback, answers.
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(model="gpt-4.1", messages=user("hi")), timeout=30
    )
    assert reply.model == "gpt-4o" and reply.fallback_used
    assert open_series in scrape(service.metrics_port)
    models = {m.name: m for m in (await stub.ListModels(llm_pb2.ListModelsRequest())).models}
    assert not models["gpt-4.1"].available and models["gpt-4.1"].circuit_state == "open"
    await asyncio.sleep(3.0)  # the cooldown passes; the next call is the trial
    reply = await stub.Generate(
        llm_pb2.GenerateRequest(model="gpt-4.1", messages=user("hi")), timeout=30
    )
    assert reply.model == "gpt-4.1" and not reply.fallback_used
    assert closed_series in scrape(service.metrics_port)


async def test_metrics_follow_the_genai_conventions(
    stub: llm_pb2_grpc.LlmServiceStub, service: ServiceProcess
) -> None:
    await stub.Generate(llm_pb2.GenerateRequest(model="gpt-4o", messages=user("hi")), timeout=30)
    request = llm_pb2.GenerateStreamRequest(model="gpt-4o", messages=user("hi"))
    assert [r async for r in stub.GenerateStream(request, timeout=30)]
    text = scrape(service.metrics_port)
    for series in (
        'aimesh_llm_token_usage_total{model="gpt-4o",operation="generate",provider="openai",token_type="input"}',
        "aimesh_llm_operation_duration_seconds_bucket",
        "aimesh_llm_time_to_first_token_seconds_bucket",
        "aimesh_llm_provider_errors_total",
        "aimesh_llm_retries_total",
        "aimesh_llm_fallbacks_total",
        'aimesh_llm_cost_micros_total{model="gpt-4o",provider="openai"}',
    ):
        assert series in text


async def test_provider_keys_never_reach_logs_or_metrics(
    stub: llm_pb2_grpc.LlmServiceStub, fake: FakeUpstream, service: ServiceProcess
) -> None:
    fake.then(Behaviour.error(401), Behaviour.error(401))
    call = stub.Generate(llm_pb2.GenerateRequest(model="gpt-4o", messages=user("hi")), timeout=30)
    await call
    logs = "\n".join(service.raw_lines)
    metrics_text = scrape(service.metrics_port)
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        assert secret not in logs and secret not in metrics_text
