"""aimesh.guardrails.v1.GuardrailsService: proto <-> domain conversion only."""

from aimesh.guardrails.v1 import guardrails_pb2_grpc


class GuardrailsServicer(guardrails_pb2_grpc.GuardrailsServiceServicer):
    """Every RPC answers UNIMPLEMENTED until the service's own issue builds it."""
