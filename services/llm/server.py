"""Wiring of the llm service: catalogue, providers, local model, router."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping

from grpc import aio

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.common.health import Check
from services.common.settings import SettingsError
from services.llm import metrics
from services.llm.admission import FairQueue
from services.llm.catalogue import Catalogue, CatalogueError, load_catalogue
from services.llm.local_server import LocalModelServer, default_model_path
from services.llm.providers.anthropic_provider import AnthropicProvider
from services.llm.providers.base import Provider
from services.llm.providers.local_provider import LocalProvider
from services.llm.providers.openai_provider import OpenAIProvider
from services.llm.resilience import CircuitBreaker, CircuitState
from services.llm.router import RetryPolicy, Router
from services.llm.servicer import LlmServicer
from services.llm.settings import LlmSettings
from services.llm.tokens import TokenCounter

log = logging.getLogger(__name__)
# The SDKs log every HTTP request at INFO through httpx2; our access log covers calls.
logging.getLogger("httpx2").setLevel(logging.WARNING)


class LlmApp:
    name = "llm"
    service_names = (llm_pb2.DESCRIPTOR.services_by_name["LlmService"].full_name,)

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings
        try:
            self.catalogue: Catalogue = load_catalogue(settings.catalogue_path)
        except CatalogueError as exc:
            raise _cannot_start(str(exc)) from None
        self.default_model = settings.default_model or self.catalogue.default_model
        if self.default_model not in self.catalogue.models:
            raise _cannot_start(
                f"invalid setting AIMESH_LLM_DEFAULT_MODEL={self.default_model!r}: "
                "not a model of the catalogue"
            )
        self._fit_local_context(settings.local_context_tokens)
        self.local: LocalModelServer | None = None
        self.queues: dict[str, FairQueue] = {}
        self.providers: dict[str, Provider] = {}
        for name, spec in self.catalogue.providers.items():
            self.providers[name] = self._make_provider(
                name, spec.kind, spec.base_url, spec.api_key_env
            )
        self.counter = TokenCounter(self.local)
        self.router = Router(
            self.catalogue,
            self.providers,
            policy=RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                base_seconds=settings.retry_base_seconds,
                max_backoff_seconds=settings.retry_max_backoff_seconds,
                retry_after_max_seconds=settings.retry_after_max_seconds,
                request_timeout_seconds=settings.request_timeout_seconds,
                stream_timeout_seconds=settings.stream_timeout_seconds,
                attempt_timeout_seconds=settings.attempt_timeout_seconds,
            ),
            breaker_factory=self._make_breaker,
            counter=self.counter,
            queues=self.queues,
        )

    def _fit_local_context(self, slot_tokens: int) -> None:
        """A local model's window is what each slot of the server has, at most:
        callers size their prompts from ListModels."""
        for name, spec in list(self.catalogue.models.items()):
            kind = self.catalogue.providers[spec.provider].kind
            if kind == "local" and spec.context_window > slot_tokens:
                self.catalogue.models[name] = spec.model_copy(
                    update={
                        "context_window": slot_tokens,
                        "max_output_tokens": min(spec.max_output_tokens, slot_tokens),
                    }
                )

    def _make_provider(
        self, name: str, kind: str, base_url: str | None, api_key_env: str | None
    ) -> Provider:
        s = self.settings
        timeout = s.connect_timeout_seconds
        if kind == "local":
            model_path = s.local_model_path or default_model_path()
            self.local = LocalModelServer(
                model_path,
                threads=s.local_threads,
                parallel=s.local_parallel,
                context_tokens=s.local_context_tokens,
            )
            queue = FairQueue(slots=s.local_parallel, max_waiting=s.local_queue_max)
            self.queues[name] = queue
            return LocalProvider(name, self.local, queue, enabled=s.local_enabled)
        key: str | None
        if kind == "anthropic":
            key = s.anthropic_api_key.get_secret_value() if s.anthropic_api_key else None
            url = s.anthropic_base_url or base_url or "https://api.anthropic.com"
            return AnthropicProvider(name, base_url=url, api_key=key, connect_timeout=timeout)
        if name == "openai":
            key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
            url = s.openai_base_url or base_url or "https://api.openai.com/v1"
        else:
            key = os.environ.get(api_key_env) if api_key_env else None
            if not base_url:
                raise _cannot_start(f"model catalogue: provider {name!r} needs a base_url")
            url = base_url
        return OpenAIProvider(name, base_url=url, api_key=key, connect_timeout=timeout)

    def _make_breaker(self, provider: str, model: str) -> CircuitBreaker:
        gauge = metrics.CIRCUIT_STATE.labels(provider, model)
        gauge.set(CircuitState.CLOSED)

        def changed(state: CircuitState) -> None:
            gauge.set(state)
            log.warning(
                "circuit state changed",
                extra={"provider": provider, "model": model, "state": state.name.lower()},
            )

        return CircuitBreaker(
            self.settings.circuit_failure_threshold,
            self.settings.circuit_cooldown_seconds,
            on_change=changed,
        )

    def register(self, server: aio.Server) -> None:
        llm_pb2_grpc.add_LlmServiceServicer_to_server(
            LlmServicer(self.router, self.default_model), server
        )

    def checks(self) -> Mapping[str, Check]:
        if self.local is not None and self.settings.local_enabled:
            return {"local_model": self.local.ready}
        return {}

    async def start(self) -> None:
        for spec in self.catalogue.models.values():
            self.router.breaker(spec)  # publish every circuit's state from the start
        kinds = {name: p.kind for name, p in self.catalogue.providers.items()}
        await asyncio.to_thread(self.counter.preload, list(self.catalogue.models.values()), kinds)
        if self.local is not None and self.settings.local_enabled:
            await asyncio.wait_for(self.local.start(), self.settings.local_start_timeout_seconds)
        available = [
            s.name for s in self.catalogue.models.values() if not self.router.unavailable_reason(s)
        ]
        log.info(
            "models available", extra={"models": available, "default_model": self.default_model}
        )

    async def stop(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        if self.local is not None:
            await self.local.stop()


def _cannot_start(message: str) -> SettingsError:
    """Like a bad setting: the start stops with exit status 2 and this message."""
    sys.stderr.write(f"aimesh: cannot start: {message}\n")
    return SettingsError(message)
