"""Wiring of the retrieval service."""

from __future__ import annotations

from collections.abc import Mapping

from grpc import aio

from aimesh.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.health import Check
from services.retrieval.servicer import RetrievalServicer
from services.retrieval.settings import RetrievalSettings


class RetrievalApp:
    name = "retrieval"
    service_names = (retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name,)

    def __init__(self, settings: RetrievalSettings) -> None:
        self.settings = settings

    def register(self, server: aio.Server) -> None:
        retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(RetrievalServicer(), server)

    def checks(self) -> Mapping[str, Check]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
