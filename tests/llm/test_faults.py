"""Provider faults through the real SDKs against the fault-injecting upstream:
retries, Retry-After, fallbacks, deadlines, streams cut short, malformed bodies."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from services.common.errors import DeadlineExceeded, InvalidArgument, Unavailable
from services.llm.providers.base import ChatMessage, ChatRequest
from services.llm.resilience import CircuitBreaker, CircuitState
from services.llm.router import Outcome, Piece, Router
from tests.llm.conftest import MODELS, RouterFactory, catalogue
from tests.llm.fake_upstream import Behaviour, FakeUpstream, prompt_tokens

REQUEST = ChatRequest(messages=(ChatMessage("user", "Say hello to the world"),), max_tokens=0)


async def collect(
    router: Router, model: str, deadline: float | None = None
) -> list[Piece | Outcome]:
    spec = router.catalogue.models[model]
    return [piece async for piece in router.stream(spec, REQUEST, deadline=deadline)]


def last_outcome(pieces: list[Piece | Outcome]) -> Outcome:
    outcome = pieces[-1]
    assert isinstance(outcome, Outcome)
    return outcome


async def test_429_with_retry_after_is_honoured_then_succeeds(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour.error(429, retry_after="0.3"))
    router = make_router()
    generation = await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert generation.text == "Hello, world!"
    assert generation.outcome.spec.name == "gpt-4o" and not generation.outcome.fallback_used
    first, second = upstream.requests
    assert second.at - first.at >= 0.3  # waited at least what the provider asked for
    assert first.headers["authorization"] == "Bearer sk-test-key"


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried(
    upstream: FakeUpstream, make_router: RouterFactory, status: int
) -> None:
    upstream.then(Behaviour.error(status), Behaviour.error(status))
    router = make_router()
    generation = await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert generation.outcome.spec.name == "gpt-4o"
    assert len(upstream.requests) == 3


async def test_persistent_5xx_falls_back_to_anthropic(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(*[Behaviour.error(503)] * 3)
    router = make_router()
    pieces = await collect(router, "gpt-4o")
    outcome = last_outcome(pieces)
    assert "".join(p.text for p in pieces if isinstance(p, Piece)) == "Hello, world!"
    assert outcome.spec.name == "claude-3-5-haiku" and outcome.provider == "anthropic"
    assert outcome.fallback_used and outcome.complete and outcome.usage_reported
    paths = [r.path for r in upstream.requests]
    assert paths == ["/v1/chat/completions"] * 3 + ["/v1/messages"]
    anthropic_request = upstream.requests[-1]
    headers = anthropic_request.headers
    assert (
        "sk-ant-test-key"
        in (headers.get("x-api-key", ""), headers.get("authorization", ""))[
            "x-api-key" not in headers
        ]
    )
    assert anthropic_request.body["model"] == "claude-3-5-haiku-20241022"
    assert anthropic_request.body["max_tokens"] == 8192  # the fallback's own output limit


async def test_all_providers_failing_is_unavailable_with_retry_info(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.default = Behaviour.error(500)
    router = make_router()
    with pytest.raises(Unavailable) as caught:
        await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert caught.value.reason == "PROVIDERS_UNAVAILABLE"
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert "sk-test-key" not in caught.value.message
    assert len(upstream.requests) == 6  # three attempts on each of the two models


async def test_retry_after_beyond_the_deadline_is_not_waited_for(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.default = Behaviour.error(429, retry_after="20")
    router = make_router()
    loop = asyncio.get_running_loop()
    # Had it slept, the next attempt would find the deadline gone (DEADLINE_EXCEEDED);
    # UNAVAILABLE carrying the provider's delay means it gave up at once instead.
    deadline = loop.time() + 5.0
    with pytest.raises(Unavailable) as caught:
        await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=deadline)
    assert caught.value.retry_after == 20
    assert len(upstream.requests) == 2  # one call per model, no retry


async def test_timeout_then_fallback(upstream: FakeUpstream, make_router: RouterFactory) -> None:
    upstream.then(Behaviour("hang"))
    router = make_router(max_attempts=1, request_timeout_seconds=0.5)
    generation = await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert generation.outcome.spec.name == "claude-3-5-haiku"
    await asyncio.wait_for(upstream.disconnected.wait(), 10)  # the hung call was abandoned


async def test_a_silent_stream_leaves_the_deadline_to_the_fallback(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour("hang"))
    router = make_router(max_attempts=1, stream_timeout_seconds=0.5)
    loop = asyncio.get_running_loop()
    # Without the silence bound the hung stream would take the whole 30 s deadline.
    pieces = await collect(router, "gpt-4o", deadline=loop.time() + 30)
    outcome = last_outcome(pieces)
    assert outcome.spec.name == "claude-3-5-haiku" and outcome.fallback_used
    await asyncio.wait_for(upstream.disconnected.wait(), 10)  # the hung call was abandoned


def provider_errors(model: str, kind: str) -> float:
    labels = {"provider": "openai", "model": model, "kind": kind}
    return REGISTRY.get_sample_value("aimesh_llm_provider_errors_total", labels) or 0.0


def fallbacks(from_model: str, to_model: str, reason: str) -> float:
    labels = {"from_model": from_model, "to_model": to_model, "reason": reason}
    return REGISTRY.get_sample_value("aimesh_llm_fallbacks_total", labels) or 0.0


async def test_a_hanging_unary_call_leaves_the_deadline_to_the_fallback(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(*[Behaviour("hang")] * 3)
    router = make_router(attempt_timeout_seconds=0.3)
    errors, moved = (
        provider_errors("gpt-4o", "timeout"),
        fallbacks("gpt-4o", "claude-3-5-haiku", "timeout"),
    )
    loop = asyncio.get_running_loop()
    # Without the attempt bound the hung call would take the whole 30 s deadline
    # (its fair share, 15 s, is far above the three 0.3 s attempts).
    generation = await router.generate(
        router.catalogue.models["gpt-4o"], REQUEST, deadline=loop.time() + 30
    )
    assert generation.text == "Hello, world!"
    assert generation.outcome.spec.name == "claude-3-5-haiku" and generation.outcome.fallback_used
    paths = [r.path for r in upstream.requests]
    assert paths == ["/v1/chat/completions"] * 3 + ["/v1/messages"]  # timeouts are retried
    # Reported like any provider failure: errors by kind, the fallback's reason.
    assert provider_errors("gpt-4o", "timeout") == errors + 3
    assert fallbacks("gpt-4o", "claude-3-5-haiku", "timeout") == moved + 1
    await asyncio.wait_for(upstream.disconnected.wait(), 10)  # the hung calls were abandoned


async def test_a_hanging_unary_call_keeps_a_share_of_the_deadline_for_the_fallback(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour("hang"))
    router = make_router()  # no attempt bound: only the fallback's share ends the attempt
    loop = asyncio.get_running_loop()
    generation = await router.generate(
        router.catalogue.models["gpt-4o"], REQUEST, deadline=loop.time() + 4
    )
    assert generation.outcome.spec.name == "claude-3-5-haiku" and generation.outcome.fallback_used
    # The share ran out with the first attempt: no retry of gpt-4o eats the fallback's half.
    assert [r.path for r in upstream.requests] == ["/v1/chat/completions", "/v1/messages"]


async def test_a_hanging_unary_call_without_a_fallback_is_unavailable(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.default = Behaviour("hang")
    router = make_router(
        catalogue(**{"gpt-4o-alone": {**MODELS["gpt-4o"], "fallbacks": []}}),
        breaker=lambda provider, model: CircuitBreaker(3, 30.0),
        attempt_timeout_seconds=0.3,
    )
    spec = router.catalogue.models["gpt-4o-alone"]
    loop = asyncio.get_running_loop()
    with pytest.raises(Unavailable) as caught:
        await router.generate(spec, REQUEST, deadline=loop.time() + 30)
    # The attempts failed, not the caller's deadline: UNAVAILABLE, not DEADLINE_EXCEEDED.
    assert caught.value.reason == "PROVIDERS_UNAVAILABLE"
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert "timeout" in caught.value.message
    assert len(upstream.requests) == 3
    # Each timed-out attempt was a failure of the provider: three open the circuit.
    assert router.breaker(spec).state is CircuitState.OPEN


async def test_caller_deadline_bounds_a_hanging_provider(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.default = Behaviour("hang")
    router = make_router()
    loop = asyncio.get_running_loop()
    with pytest.raises(DeadlineExceeded):
        await router.generate(
            router.catalogue.models["gpt-4o"], REQUEST, deadline=loop.time() + 0.5
        )


@pytest.mark.parametrize("model", ["gpt-4o", "claude-3-5-haiku"])
@pytest.mark.parametrize("stream", [False, True])
async def test_malformed_body_is_retried(
    upstream: FakeUpstream, make_router: RouterFactory, stream: bool, model: str
) -> None:
    upstream.then(Behaviour("malformed"))
    router = make_router()
    if stream:
        outcome = last_outcome(await collect(router, model))
    else:
        outcome = (
            await router.generate(router.catalogue.models[model], REQUEST, deadline=None)
        ).outcome
    assert outcome.spec.name == model and outcome.complete
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("model", ["gpt-4o", "claude-3-5-haiku"])
async def test_connection_dropped_mid_stream_is_never_replayed(
    upstream: FakeUpstream, make_router: RouterFactory, model: str
) -> None:
    upstream.then(Behaviour("drop", drop_after=2))
    router = make_router()
    pieces: list[Piece | Outcome] = []
    with pytest.raises(Unavailable) as caught:
        async for piece in router.stream(router.catalogue.models[model], REQUEST, deadline=None):
            pieces.append(piece)
    assert caught.value.reason == "STREAM_INTERRUPTED"
    assert [p.text for p in pieces if isinstance(p, Piece)] == ["Hello", ","]
    outcome = last_outcome(pieces)
    assert not outcome.complete and outcome.usage.output_tokens >= 2
    assert outcome.cost_micros > 0
    assert len(upstream.requests) == 1  # no retry, no fallback once text reached the caller


async def test_anthropic_stream_maps_system_and_usage(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    router = make_router()
    request = ChatRequest(
        messages=(ChatMessage("system", "Be terse."), ChatMessage("user", "Hi there")),
        max_tokens=50,
        temperature=1.5,
        stop=("END",),
    )
    spec = router.catalogue.models["claude-3-5-haiku"]
    pieces = [p async for p in router.stream(spec, request, deadline=None)]
    outcome = last_outcome(pieces)
    body = upstream.requests[0].body
    assert body["system"] == "Be terse."
    assert body["messages"] == [{"role": "user", "content": "Hi there"}]
    assert body["temperature"] == 1.0 and body["stop_sequences"] == ["END"]
    assert outcome.usage.input_tokens == prompt_tokens(body)
    assert outcome.usage.output_tokens == 4 and outcome.finish_reason == "stop"


@pytest.mark.parametrize(
    "fault", [Behaviour.error(529), Behaviour.error(429, retry_after="0.1"), Behaviour.error(500)]
)
async def test_anthropic_faults_are_retried(
    upstream: FakeUpstream, make_router: RouterFactory, fault: Behaviour
) -> None:
    upstream.then(fault)
    router = make_router()
    generation = await router.generate(
        router.catalogue.models["claude-3-5-haiku"], REQUEST, deadline=None
    )
    assert generation.text == "Hello, world!" and len(upstream.requests) == 2


async def test_bad_request_is_the_callers_fault(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour.error(400))
    router = make_router()
    with pytest.raises(InvalidArgument) as caught:
        await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert caught.value.violations[0][0] == "messages"
    assert len(upstream.requests) == 1


async def test_closing_a_stream_closes_the_upstream_connection(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    upstream.then(Behaviour("slow"))
    router = make_router()
    stream = router.stream(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    received = 0
    async for piece in stream:
        if isinstance(piece, Piece):
            received += 1
            if received == 3:
                break
    await stream.aclose()
    await asyncio.wait_for(upstream.disconnected.wait(), 10)


async def run(router: Router, model: str, stream: bool) -> Outcome:
    """One generation, unary or streamed, to its outcome."""
    spec = router.catalogue.models[model]
    if stream:
        return last_outcome(await collect(router, model))
    return (await router.generate(spec, REQUEST, deadline=None)).outcome


@pytest.mark.parametrize("stream", [False, True])
async def test_bad_request_from_the_first_model_tried_is_the_callers_fault(
    upstream: FakeUpstream, make_router: RouterFactory, stream: bool
) -> None:
    """gpt-4o has no key and is skipped: claude-3-5-haiku is the first model
    tried, and its 400 is the request's fault, as it would be on gpt-4o."""
    upstream.then(Behaviour.error(400))
    router = make_router(without_key=["openai"])
    with pytest.raises(InvalidArgument) as caught:
        await run(router, "gpt-4o", stream)
    assert caught.value.violations[0][0] == "messages"
    assert [r.path for r in upstream.requests] == ["/v1/messages"]  # no retry


async def test_bad_request_after_a_transient_failure_is_unavailable(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    """gpt-4o failed with 5xx, then its fallback refused the request (say, too
    long for its window): gpt-4o may serve a retry, so the caller is told to
    retry (UNAVAILABLE), not that its request is wrong."""
    upstream.then(*[Behaviour.error(503)] * 3, Behaviour.error(400))
    router = make_router()
    with pytest.raises(Unavailable) as caught:
        await router.generate(router.catalogue.models["gpt-4o"], REQUEST, deadline=None)
    assert caught.value.reason == "PROVIDERS_UNAVAILABLE"
    assert "gpt-4o: server_error" in caught.value.message
    assert "claude-3-5-haiku: bad_request" in caught.value.message


@pytest.mark.parametrize("stream", [False, True])
async def test_skipping_a_model_without_credentials_is_a_counted_fallback(
    upstream: FakeUpstream, make_router: RouterFactory, stream: bool
) -> None:
    router = make_router(without_key=["openai"])
    moved = fallbacks("gpt-4o", "claude-3-5-haiku", "no_credentials")
    outcome = await run(router, "gpt-4o", stream)
    assert outcome.spec.name == "claude-3-5-haiku" and outcome.fallback_used
    assert fallbacks("gpt-4o", "claude-3-5-haiku", "no_credentials") == moved + 1


@pytest.mark.parametrize("stream", [False, True])
async def test_skipping_a_model_whose_circuit_is_open_is_a_counted_fallback(
    upstream: FakeUpstream, make_router: RouterFactory, stream: bool
) -> None:
    router = make_router()
    breaker = router.breaker(router.catalogue.models["gpt-4o"])
    for _ in range(5):
        breaker.failure()
    assert breaker.state is CircuitState.OPEN
    moved = fallbacks("gpt-4o", "claude-3-5-haiku", "circuit_open")
    outcome = await run(router, "gpt-4o", stream)
    assert outcome.spec.name == "claude-3-5-haiku" and outcome.fallback_used
    assert fallbacks("gpt-4o", "claude-3-5-haiku", "circuit_open") == moved + 1
