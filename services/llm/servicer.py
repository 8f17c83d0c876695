"""aimesh.llm.v1.LlmService: proto <-> domain conversion only."""

from aimesh.llm.v1 import llm_pb2_grpc


class LlmServicer(llm_pb2_grpc.LlmServiceServicer):
    """Every RPC answers UNIMPLEMENTED until the service's own issue builds it."""
