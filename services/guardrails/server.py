"""Wiring of the guardrails service."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Mapping

from grpc import aio

from aimesh.guardrails.v1 import guardrails_pb2 as pb
from aimesh.guardrails.v1 import guardrails_pb2_grpc
from services.common.health import Check
from services.guardrails.loader import load_guard
from services.guardrails.policy import Policy, PolicyStore
from services.guardrails.servicer import GuardrailsServicer
from services.guardrails.settings import GuardrailsSettings

log = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["GuardrailsService"].full_name


def _load_policies(base: Policy, settings: GuardrailsSettings) -> PolicyStore:
    """A bad policy file stops the start with a clear message, like a bad setting."""
    try:
        return PolicyStore.load(base, settings.policy_file)
    except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        sys.stderr.write(
            f"aimesh: cannot start: AIMESH_GUARDRAILS_POLICY_FILE={settings.policy_file}: {exc}\n"
        )
        raise SystemExit(2) from None


class GuardrailsApp:
    name = "guardrails"
    service_names = (SERVICE,)

    def __init__(self, settings: GuardrailsSettings) -> None:
        self.settings = settings
        base = Policy(injection_threshold=settings.injection_threshold)
        self.policies = _load_policies(base, settings)
        self.servicer: GuardrailsServicer | None = None

    def register(self, server: aio.Server) -> None:
        servicer = GuardrailsServicer(self.settings, self.policies)
        self.servicer = servicer
        # Undecodable requests (invalid UTF-8 from a raw client) are answered by the
        # shared interceptor: INVALID_ARGUMENT naming the field.
        guardrails_pb2_grpc.add_GuardrailsServiceServicer_to_server(servicer, server)

    def checks(self) -> Mapping[str, Check]:
        async def models_loaded() -> bool:
            return self.servicer is not None and self.servicer.guard is not None

        return {"models": models_loaded}

    async def start(self) -> None:
        guard = await asyncio.to_thread(load_guard, self.settings)
        if self.servicer is not None:
            self.servicer.guard = guard
        log.info("models loaded")

    async def stop(self) -> None:
        pass
