"""A unary reply (`complete`): one llm Generate, its output checked whole by
CheckOutput; what the llm reports is kept for budgets and the reply, and its
failures become the edge's errors as for a stream."""

from __future__ import annotations

from contextlib import aclosing
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from aimesh.guardrails.v1 import guardrails_pb2
from aimesh.llm.v1 import llm_pb2
from services.common import errors
from services.edge.generation import GenerationRequest, GenerationResult, complete

REQUEST = GenerationRequest(
    tenant="t", model="m", messages=[("user", "hi")], max_tokens=16, temperature=0.5, stop=["x"]
)
REPLY = llm_pb2.GenerateResponse(
    text="Hello, Alice",
    model="backup",
    provider="openai",
    finish_reason=llm_pb2.FINISH_REASON_STOP,
    usage=llm_pb2.Usage(input_tokens=7, output_tokens=3),
    cost_micros=42,
    fallback_used=True,
)


class Done:
    """A grpc.aio unary call that has its outcome already."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def cancel(self) -> bool:
        return False

    def __await__(self) -> Any:
        async def wait() -> Any:
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return self.outcome

        return wait().__await__()


class Downstream:
    def __init__(self, llm: Any, check: Any = None) -> None:
        self.generate: list[llm_pb2.GenerateRequest] = []
        self.checks: list[guardrails_pb2.CheckOutputRequest] = []

        def generate(request: llm_pb2.GenerateRequest, timeout: float) -> Done:
            assert timeout > 0
            self.generate.append(request)
            return Done(llm)

        def check_output(request: guardrails_pb2.CheckOutputRequest, timeout: float) -> Done:
            self.checks.append(request)
            return Done(check)

        def unexpected(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a unary reply makes no streaming call")

        self.llm = SimpleNamespace(Generate=generate, GenerateStream=unexpected)
        self.guardrails = SimpleNamespace(CheckOutput=check_output, RedactStream=unexpected)


async def run(down: Downstream, result: GenerationResult) -> list[str]:
    async with aclosing(complete(down, REQUEST, result, 30.0)) as pieces:  # type: ignore[arg-type]
        return [piece async for piece in pieces]


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")


async def test_one_generate_and_one_check_and_everything_the_llm_reported_is_kept() -> None:
    down = Downstream(
        REPLY, guardrails_pb2.CheckOutputResponse(verdict=guardrails_pb2.VERDICT_ALLOW)
    )
    result = GenerationResult(model="m", provider="p")
    assert await run(down, result) == ["Hello, Alice"]
    [sent] = down.generate
    assert (sent.model, sent.max_tokens, list(sent.stop)) == ("m", 16, ["x"])
    assert sent.temperature == pytest.approx(0.5) and not sent.HasField("top_p")
    assert [c.text for c in down.checks] == ["Hello, Alice"]
    assert (result.model, result.provider, result.fallback_used) == ("backup", "openai", True)
    assert result.finish_reason == llm_pb2.FINISH_REASON_STOP
    assert (result.input_tokens, result.output_tokens, result.cost_micros) == (7, 3, 42)
    assert result.output_chars == len("Hello, Alice")
    assert result.finished and not result.incomplete and not result.redacted
    assert result.text == "Hello, Alice"


async def test_a_redacted_output_is_what_the_client_gets() -> None:
    check = guardrails_pb2.CheckOutputResponse(
        verdict=guardrails_pb2.VERDICT_REDACT,
        redacted_text="Hello, <PERSON_1>",
        findings=[guardrails_pb2.Finding(placeholder="<PERSON_1>")],
    )
    result = GenerationResult(model="m")
    assert await run(Downstream(REPLY, check), result) == ["Hello, <PERSON_1>"]
    assert result.redacted and result.finished and result.cost_micros == 42


async def test_a_blocked_output_returns_nothing_and_leaves_the_usage_to_charge() -> None:
    check = guardrails_pb2.CheckOutputResponse(
        verdict=guardrails_pb2.VERDICT_BLOCK, reason="SECRET_IN_OUTPUT"
    )
    result = GenerationResult(model="m")
    with pytest.raises(errors.PermissionDenied):
        await run(Downstream(REPLY, check), result)
    # Not finished, output seen: the pipeline charges it as for any output cut short.
    assert not result.finished and result.output_chars and result.cost_micros == 42


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
    ],
)
async def test_a_failed_generate_is_translated_and_charges_nothing(
    code: grpc.StatusCode, error: type[Exception]
) -> None:
    down = Downstream(rpc_error(code))
    result = GenerationResult(model="m")
    with pytest.raises(error):
        await run(down, result)
    assert not down.checks
    assert not result.finished and not result.output_chars and not result.cost_micros


async def test_an_empty_output_is_not_checked() -> None:
    length = llm_pb2.FINISH_REASON_LENGTH
    reply = llm_pb2.GenerateResponse(model="m", provider="p", finish_reason=length, cost_micros=1)
    down = Downstream(reply)
    result = GenerationResult(model="m")
    assert await run(down, result) == []
    assert not down.checks and result.finished and result.finish_reason == length
