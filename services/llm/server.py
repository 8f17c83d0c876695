"""Wiring of the llm service."""

from __future__ import annotations

from collections.abc import Mapping

from grpc import aio

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.common.health import Check
from services.llm.servicer import LlmServicer
from services.llm.settings import LlmSettings


class LlmApp:
    name = "llm"
    service_names = (llm_pb2.DESCRIPTOR.services_by_name["LlmService"].full_name,)

    def __init__(self, settings: LlmSettings) -> None:
        self.settings = settings

    def register(self, server: aio.Server) -> None:
        llm_pb2_grpc.add_LlmServiceServicer_to_server(LlmServicer(), server)

    def checks(self) -> Mapping[str, Check]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
