"""aimesh.edge.v1.EdgeService: proto <-> domain conversion only."""

from aimesh.edge.v1 import edge_pb2_grpc


class EdgeServicer(edge_pb2_grpc.EdgeServiceServicer):
    """Every RPC answers UNIMPLEMENTED until the service's own issue builds it."""
