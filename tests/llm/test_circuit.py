"""Circuit breakers: open after repeated failures, half-open after the
cooldown, close on success; the router skips an open circuit."""

from __future__ import annotations

from services.llm.providers.base import ChatMessage, ChatRequest
from services.llm.resilience import CircuitBreaker, CircuitState, backoff_delay
from tests.llm.conftest import RouterFactory
from tests.llm.fake_upstream import Behaviour, FakeUpstream

REQUEST = ChatRequest(messages=(ChatMessage("user", "hello"),), max_tokens=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_recovers_after_cooldown() -> None:
    clock = Clock()
    changes: list[CircuitState] = []
    breaker = CircuitBreaker(3, 10.0, clock=clock, on_change=changes.append)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    assert breaker.retry_in() == 10.0
    clock.now += 10.0
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one trial at a time
    breaker.success()
    assert breaker.state is CircuitState.CLOSED and breaker.allow()
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_failed_trial_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.failure()
    clock.now += 5.0
    assert breaker.allow()
    breaker.failure()
    assert breaker.state is CircuitState.OPEN and breaker.retry_in() == 5.0


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(2, 5.0)
    breaker.failure()
    breaker.success()
    breaker.failure()
    assert breaker.state is CircuitState.CLOSED


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    assert backoff_delay(0, base=1, cap=10, rng=lambda: 1.0) == 1
    assert backoff_delay(3, base=1, cap=10, rng=lambda: 1.0) == 8
    assert backoff_delay(10, base=1, cap=10, rng=lambda: 1.0) == 10
    assert backoff_delay(10, base=1, cap=10, rng=lambda: 0.0) == 0
    assert backoff_delay(0, base=1, cap=10, rng=lambda: 0.5, retry_after=7) == 7


async def test_router_skips_an_open_circuit_then_closes_it_after_recovery(
    upstream: FakeUpstream, make_router: RouterFactory
) -> None:
    clock = Clock()
    breakers: dict[str, CircuitBreaker] = {}

    def breaker(provider: str, model: str) -> CircuitBreaker:
        breakers[model] = CircuitBreaker(3, 30.0, clock=clock)
        return breakers[model]

    router = make_router(breaker=breaker)
    gpt = router.catalogue.models["gpt-4o"]
    upstream.then(*[Behaviour.error(500)] * 3)
    # Three failures open gpt-4o's circuit; the fallback answers.
    generation = await router.generate(gpt, REQUEST, deadline=None)
    assert generation.outcome.spec.name == "claude-3-5-haiku"
    assert breakers["gpt-4o"].state is CircuitState.OPEN
    assert router.unavailable_reason(gpt) == "circuit open"
    # While open, gpt-4o is not even called.
    upstream.requests.clear()
    generation = await router.generate(gpt, REQUEST, deadline=None)
    assert [r.path for r in upstream.requests] == ["/v1/messages"]
    # After the cooldown one trial goes through; it succeeds and closes the circuit.
    clock.now += 30.0
    upstream.requests.clear()
    generation = await router.generate(gpt, REQUEST, deadline=None)
    assert generation.outcome.spec.name == "gpt-4o"
    assert breakers["gpt-4o"].state is CircuitState.CLOSED
    assert router.unavailable_reason(gpt) == ""
