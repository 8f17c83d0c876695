"""The local provider behind its wait queue, through the router, against the
real embedded llama.cpp server: a unary call that is cancelled, or whose
deadline passes, stops the server's work when it gives back its queue place.

What the server is doing is read from its own /slots endpoint (the tokens
decoded by each busy slot). No assertion is on speed: the server is polled
with generous timeouts, and what is checked is how many tokens it still
decoded after the call had ended (a handful at most, the one in flight; a
server left generating decodes many)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from services.common.errors import DeadlineExceeded
from services.llm.admission import FairQueue
from services.llm.catalogue import Catalogue
from services.llm.local_server import LocalModelServer
from services.llm.providers.base import ChatMessage, ChatRequest
from services.llm.providers.local_provider import LocalProvider
from services.llm.resilience import CircuitBreaker
from services.llm.router import RetryPolicy, Router
from services.llm.tokens import TokenCounter

# An answer that runs to max_tokens (greedy "Count from 1 to 1000" stops after
# about a hundred): far more than the time the tests leave it, so the model is
# still generating when the call is cut.
LONG = ChatRequest(
    (ChatMessage("user", "Write a very long story about a dragon."),),
    max_tokens=1024,
    temperature=0.0,
)
# Tokens the server may still decode once the call has ended: the one being
# decoded when the stream closed, and the one it was sending.
IN_FLIGHT = 4


@pytest.fixture
async def local(local_model: LocalModelServer) -> AsyncIterator[tuple[Router, FairQueue]]:
    catalogue = Catalogue.model_validate(
        {
            "default_model": "smollm2-135m",
            "providers": {"local": {"kind": "local"}},
            "models": {
                "smollm2-135m": {
                    "provider": "local",
                    "upstream_model": "smollm2-135m",
                    "context_window": 2048,
                    "max_output_tokens": 1024,
                    "input_micros_per_million_tokens": 0,
                    "output_micros_per_million_tokens": 0,
                    "fallbacks": [],
                }
            },
        }
    )
    queue = FairQueue(slots=local_model.parallel, max_waiting=4)
    provider = LocalProvider("local", local_model, queue)
    router = Router(
        catalogue,
        {"local": provider},
        policy=RetryPolicy(max_attempts=1),
        breaker_factory=lambda provider, model: CircuitBreaker(5, 30.0),
        counter=TokenCounter(local_model),
        queues={"local": queue},
    )
    yield router, queue
    await provider.close()


@pytest.fixture
async def slots(local_model: LocalModelServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=local_model.address, timeout=10.0) as http:
        await until_idle(http)  # whatever ran before has finished
        yield http


async def decoding(http: httpx2.AsyncClient) -> int | None:
    """Tokens decoded so far by the busy slots of the server; None when idle."""
    reply = await http.get("/slots")
    reply.raise_for_status()
    busy: list[dict[str, Any]] = [s for s in reply.json() if s.get("is_processing")]
    if not busy:
        return None
    return sum(t.get("n_decoded", 0) for s in busy for t in s.get("next_token") or [])


async def until_generating(http: httpx2.AsyncClient) -> None:
    for _ in range(1200):
        if (await decoding(http) or 0) > 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server never started generating")


async def until_idle(http: httpx2.AsyncClient) -> int:
    """Poll until no slot is busy; the most tokens seen decoded meanwhile."""
    most = 0
    for _ in range(3000):
        decoded = await decoding(http)
        if decoded is None:
            return most
        most = max(most, decoded)
        await asyncio.sleep(0.02)
    raise AssertionError("the server kept generating for a minute")


async def decoded_after_the_call(http: httpx2.AsyncClient) -> int:
    """Tokens the server decoded from now (the call has ended) until it was idle."""
    now = await decoding(http)
    if now is None:
        return 0
    return await until_idle(http) - now


async def test_cancelled_unary_generate_stops_the_local_model(
    local: tuple[Router, FairQueue], slots: httpx2.AsyncClient
) -> None:
    router, queue = local
    spec = router.catalogue.models["smollm2-135m"]
    for _ in range(2):  # twice: a server left running can stop by chance at its own poll
        call = asyncio.create_task(router.generate(spec, LONG, deadline=None))
        await until_generating(slots)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert queue.busy == 0  # our place is given back...
        assert await decoded_after_the_call(slots) <= IN_FLIGHT  # ...and so is the server's


async def test_unary_generate_past_its_deadline_stops_the_local_model(
    local: tuple[Router, FairQueue], slots: httpx2.AsyncClient
) -> None:
    router, queue = local
    spec = router.catalogue.models["smollm2-135m"]
    loop = asyncio.get_running_loop()
    # Long enough for the model to be generating (the prompt takes a fraction of it).
    with pytest.raises(DeadlineExceeded):
        await router.generate(spec, LONG, deadline=loop.time() + 2.5)
    assert queue.busy == 0
    assert await decoded_after_the_call(slots) <= IN_FLIGHT


async def test_unary_generate_through_the_stream_reports_the_servers_usage(
    local: tuple[Router, FairQueue], local_model: LocalModelServer
) -> None:
    router, _ = local
    messages = (ChatMessage("system", "You are brief."), ChatMessage("user", "Name a colour."))
    generation = await router.generate(
        router.catalogue.models["smollm2-135m"],
        ChatRequest(messages, max_tokens=5, temperature=0.0),
        deadline=None,
    )
    outcome = generation.outcome
    assert generation.text and outcome.finish_reason in ("stop", "length")
    assert outcome.usage_reported  # llama.cpp's own usage, from the stream's last chunk
    prompt = await local_model.count_chat_tokens(
        [{"role": m.role, "content": m.content} for m in messages]
    )
    assert outcome.usage.input_tokens == prompt
    assert 1 <= outcome.usage.output_tokens <= 5
