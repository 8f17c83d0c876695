"""Wiring of the guardrails service."""

from __future__ import annotations

from collections.abc import Mapping

from grpc import aio

from aimesh.guardrails.v1 import guardrails_pb2, guardrails_pb2_grpc
from services.common.health import Check
from services.guardrails.servicer import GuardrailsServicer
from services.guardrails.settings import GuardrailsSettings


class GuardrailsApp:
    name = "guardrails"
    service_names = (guardrails_pb2.DESCRIPTOR.services_by_name["GuardrailsService"].full_name,)

    def __init__(self, settings: GuardrailsSettings) -> None:
        self.settings = settings

    def register(self, server: aio.Server) -> None:
        guardrails_pb2_grpc.add_GuardrailsServiceServicer_to_server(GuardrailsServicer(), server)

    def checks(self) -> Mapping[str, Check]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
