"""Fixtures of the llm tests: the real local model server (started once per
session), the fault-injecting upstream, and routers wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import pytest

from services.llm.catalogue import Catalogue
from services.llm.local_server import LocalModelServer, default_model_path
from services.llm.providers.anthropic_provider import AnthropicProvider
from services.llm.providers.base import Provider
from services.llm.providers.openai_provider import OpenAIProvider
from services.llm.resilience import CircuitBreaker
from services.llm.router import RetryPolicy, Router
from services.llm.tokens import TokenCounter
from tests.llm.fake_upstream import FakeUpstream


@pytest.fixture(scope="session")
async def local_model() -> AsyncIterator[LocalModelServer]:
    # One thread: on a shared, busy machine llama.cpp's threads otherwise wait on each other.
    server = LocalModelServer(default_model_path(), threads=1, parallel=2, context_tokens=2048)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = await FakeUpstream().start()
    yield fake
    await fake.stop()


# The fake upstream's models: an OpenAI one that falls back to an Anthropic one.
MODELS: dict[str, dict[str, Any]] = {
    "gpt-4o": {
        "provider": "openai",
        "upstream_model": "gpt-4o",
        "context_window": 128000,
        "max_output_tokens": 16384,
        "input_micros_per_million_tokens": 2500000,
        "output_micros_per_million_tokens": 10000000,
        "fallbacks": ["claude-3-5-haiku"],
    },
    "claude-3-5-haiku": {
        "provider": "anthropic",
        "upstream_model": "claude-3-5-haiku-20241022",
        "context_window": 200000,
        "max_output_tokens": 8192,
        "input_micros_per_million_tokens": 800000,
        "output_micros_per_million_tokens": 4000000,
        "fallbacks": [],
    },
}


def catalogue(**models: dict[str, Any]) -> Catalogue:
    """A catalogue of fake-upstream models; `models` overrides or adds entries."""
    return Catalogue.model_validate(
        {
            "default_model": "gpt-4o",
            "providers": {
                "openai": {"kind": "openai"},
                "anthropic": {"kind": "anthropic"},
            },
            "models": {**MODELS, **models},
        }
    )


RouterFactory = Callable[..., Router]


@pytest.fixture
async def make_router(upstream: FakeUpstream) -> AsyncIterator[RouterFactory]:
    made: list[Provider] = []

    def make(
        cat: Catalogue | None = None,
        *,
        breaker: Callable[[str, str], CircuitBreaker] | None = None,
        without_key: Collection[str] = (),
        **policy: Any,
    ) -> Router:
        """A router on the fake upstream; the providers named in `without_key`
        have no credentials (as with no key configured), so they are skipped."""

        def key(provider: str, value: str) -> str | None:
            return None if provider in without_key else value

        providers: dict[str, Provider] = {
            "openai": OpenAIProvider(
                "openai", base_url=upstream.openai_base_url, api_key=key("openai", "sk-test-key")
            ),
            "anthropic": AnthropicProvider(
                "anthropic",
                base_url=upstream.anthropic_base_url,
                api_key=key("anthropic", "sk-ant-test-key"),
            ),
        }
        made.extend(providers.values())
        settings = {"base_seconds": 0.01, "max_backoff_seconds": 0.05, **policy}
        return Router(
            cat or catalogue(),
            providers,
            policy=RetryPolicy(**settings),
            breaker_factory=breaker or (lambda provider, model: CircuitBreaker(5, 30.0)),
            counter=TokenCounter(None),
        )

    yield make
    for provider in made:
        await provider.close()
