"""aimesh.retrieval.v1.RetrievalService: proto <-> domain conversion only."""

from aimesh.retrieval.v1 import retrieval_pb2_grpc


class RetrievalServicer(retrieval_pb2_grpc.RetrievalServiceServicer):
    """Every RPC answers UNIMPLEMENTED until the service's own issue builds it."""
