"""Request checks: every bad input becomes INVALID_ARGUMENT naming its field."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from aimesh.llm.v1 import llm_pb2
from services.common.errors import InvalidArgument, NotFound
from services.llm.catalogue import Catalogue, ModelSpec
from services.llm.providers.base import ChatMessage, ChatRequest, Role

ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 10_000
MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 256


GenerationRequest = llm_pb2.GenerateRequest | llm_pb2.GenerateStreamRequest


def resolve_model(catalogue: Catalogue, name: str, default: str) -> ModelSpec:
    """The catalogue entry of `name`; empty means the default model."""
    name = name or default
    spec = catalogue.models.get(name)
    if spec is None:
        raise NotFound(
            f"model {name!r} is not in the catalogue; ListModels names the models",
            reason="MODEL_NOT_FOUND",
            metadata={"field": "model", "model": name[:200]},
        )
    return spec


def check_messages(messages: Sequence[llm_pb2.Message]) -> tuple[ChatMessage, ...]:
    if not messages:
        raise InvalidArgument("messages", "at least one message is required")
    if len(messages) > MAX_MESSAGES:
        raise InvalidArgument("messages", f"at most {MAX_MESSAGES} messages are allowed")
    checked = []
    for i, message in enumerate(messages):
        if message.role not in ROLES:
            raise InvalidArgument(
                f"messages[{i}].role",
                f"must be one of {', '.join(ROLES)}; got {message.role[:40]!r}",
            )
        checked.append(ChatMessage(cast(Role, message.role), message.content))
    if all(m.role == "system" for m in checked):
        raise InvalidArgument("messages", "at least one user or assistant message is required")
    return tuple(checked)


def check_generation(request: GenerationRequest, spec: ModelSpec) -> ChatRequest:
    messages = check_messages(request.messages)
    if request.max_tokens < 0:
        raise InvalidArgument("max_tokens", "must not be negative (0 means the model's limit)")
    if request.max_tokens > spec.max_output_tokens:
        raise InvalidArgument(
            "max_tokens",
            f"{request.max_tokens} is over the output limit of {spec.name} "
            f"({spec.max_output_tokens})",
        )
    temperature = None
    if request.HasField("temperature"):
        temperature = request.temperature
        if not math.isfinite(temperature) or not 0 <= temperature <= 2:
            raise InvalidArgument("temperature", "must be between 0 and 2")
    top_p = None
    if request.HasField("top_p"):
        top_p = request.top_p
        if not math.isfinite(top_p) or not 0 < top_p <= 1:
            raise InvalidArgument("top_p", "must be greater than 0 and at most 1")
    if len(request.stop) > MAX_STOP_SEQUENCES:
        raise InvalidArgument("stop", f"at most {MAX_STOP_SEQUENCES} stop sequences")
    for i, stop in enumerate(request.stop):
        if not stop or len(stop) > MAX_STOP_CHARS:
            raise InvalidArgument(f"stop[{i}]", f"must have 1 to {MAX_STOP_CHARS} characters")
    if request.response_format not in llm_pb2.ResponseFormat.values():
        raise InvalidArgument("response_format", f"unknown value {request.response_format}")
    return ChatRequest(
        messages=messages,
        max_tokens=request.max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=tuple(request.stop),
        seed=request.seed if request.HasField("seed") else None,
        json_object=request.response_format == llm_pb2.RESPONSE_FORMAT_JSON_OBJECT,
    )
