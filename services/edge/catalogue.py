"""The model catalogue, learned from the llm service's ListModels and cached.

Context windows, output limits, prices and fallbacks come from the llm
service, the one place that knows the providers; the edge refreshes its copy
periodically and whenever it is older than the refresh interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.edge.budget import cost_micros

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    provider: str
    context_window: int
    max_output_tokens: int
    input_micros_per_million: int
    output_micros_per_million: int
    fallbacks: tuple[str, ...]
    available: bool


@dataclass(frozen=True)
class Catalogue:
    models: dict[str, ModelInfo]
    default_model: str

    def get(self, name: str) -> ModelInfo | None:
        return self.models.get(name)

    def chain(self, name: str) -> list[ModelInfo]:
        """The model and its fallbacks, in the order the llm service tries them."""
        seen: list[ModelInfo] = []
        pending = [name]
        while pending:
            model = self.models.get(pending.pop(0))
            if model is None or model in seen:
                continue
            seen.append(model)
            pending.extend(model.fallbacks)
        return seen

    def worst_case_cost(self, name: str, input_tokens: int, output_tokens: int) -> int:
        """The most the call can cost in micro-dollars, whichever fallback answers."""
        worst = 0
        for model in self.chain(name):
            cost = cost_micros(input_tokens, model.input_micros_per_million) + cost_micros(
                output_tokens, model.output_micros_per_million
            )
            worst = max(worst, cost)
        return worst


def _from_proto(response: llm_pb2.ListModelsResponse) -> Catalogue:
    models = {
        m.name: ModelInfo(
            name=m.name,
            provider=m.provider,
            context_window=m.context_window,
            max_output_tokens=m.max_output_tokens,
            input_micros_per_million=m.input_micros_per_million_tokens,
            output_micros_per_million=m.output_micros_per_million_tokens,
            fallbacks=tuple(m.fallbacks),
            available=m.available,
        )
        for m in response.models
    }
    return Catalogue(models=models, default_model=response.default_model)


class CatalogueCache:
    def __init__(
        self, stub: Callable[[], llm_pb2_grpc.LlmServiceStub], refresh_seconds: float
    ) -> None:
        self._stub = stub  # the current stub (channels are replaced after outages)
        self._refresh_seconds = refresh_seconds
        self._catalogue: Catalogue | None = None
        self._fetched_at = 0.0

    @property
    def loaded(self) -> bool:
        return self._catalogue is not None

    async def refresh(self, call_timeout: float = 2.0) -> Catalogue:
        response = await self._stub().ListModels(llm_pb2.ListModelsRequest(), timeout=call_timeout)
        catalogue = _from_proto(response)
        if self._catalogue is None or catalogue.models.keys() != self._catalogue.models.keys():
            log.info("model catalogue loaded", extra={"models": sorted(catalogue.models)})
        self._catalogue, self._fetched_at = catalogue, time.monotonic()
        return catalogue

    async def get(self) -> Catalogue:
        """The cached catalogue; refreshed when stale (the stale copy serves on error)."""
        stale = time.monotonic() - self._fetched_at > self._refresh_seconds
        if self._catalogue is None or stale:
            try:
                return await self.refresh()
            except grpc.RpcError as exc:
                if self._catalogue is None:
                    raise
                self._fetched_at = time.monotonic()  # retry after another interval
                log.warning("model catalogue refresh failed", extra={"code": exc.code().name})
        return self._catalogue
