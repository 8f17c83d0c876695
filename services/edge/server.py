"""Wiring of the edge service."""

from __future__ import annotations

from collections.abc import Mapping

from grpc import aio

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc
from services.common.health import Check
from services.edge.servicer import EdgeServicer
from services.edge.settings import EdgeSettings


class EdgeApp:
    name = "edge"
    service_names = (edge_pb2.DESCRIPTOR.services_by_name["EdgeService"].full_name,)

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings

    def register(self, server: aio.Server) -> None:
        edge_pb2_grpc.add_EdgeServiceServicer_to_server(EdgeServicer(), server)

    def checks(self) -> Mapping[str, Check]:
        return {}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass
