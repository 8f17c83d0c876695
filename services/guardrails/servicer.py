"""aimesh.guardrails.v1.GuardrailsService: proto <-> domain conversion only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from grpc import aio

from aimesh.guardrails.v1 import guardrails_pb2 as pb
from aimesh.guardrails.v1 import guardrails_pb2_grpc
from services.common.context import set_tenant
from services.common.errors import InvalidArgument, PermissionDenied, Unavailable
from services.guardrails.detectors import output_checks
from services.guardrails.findings import Action, Finding, Report
from services.guardrails.guard import Guard, OutputChecks
from services.guardrails.policy import DEFAULT_ACTIONS, DETECTORS, Policy, PolicyStore
from services.guardrails.settings import GuardrailsSettings
from services.guardrails.stream import StreamBlocked, StreamRedactor

T = TypeVar("T")


class GuardrailsServicer(guardrails_pb2_grpc.GuardrailsServiceServicer):
    def __init__(self, settings: GuardrailsSettings, policies: PolicyStore) -> None:
        self.settings = settings
        self.policies = policies
        # Set by the app once the models are loaded; health is NOT_SERVING until then.
        self.guard: Guard | None = None

    def _guard(self) -> Guard:
        if self.guard is None:
            raise Unavailable("guardrails models are loading", retry_after=1.0)
        return self.guard

    async def CheckInput(
        self, request: pb.CheckInputRequest, context: aio.ServicerContext
    ) -> pb.CheckInputResponse:
        text = self._text(request.text, "text")
        policy = self._policy(request.tenant, request.policy, request.HasField("policy"))
        if request.source not in pb.Source.values():
            raise InvalidArgument("source", f"unknown Source value {request.source}")
        document = request.source == pb.SOURCE_DOCUMENT
        guard = self._guard()
        report = await self._run(
            len(text), lambda: guard.check_input(text, policy, document=document)
        )
        return pb.CheckInputResponse(**_report_fields(report))

    async def CheckOutput(
        self, request: pb.CheckOutputRequest, context: aio.ServicerContext
    ) -> pb.CheckOutputResponse:
        text = self._text(request.text, "text")
        policy = self._policy(request.tenant, request.policy, request.HasField("policy"))
        schema = None
        if request.json_schema:
            try:
                schema = output_checks.parse_schema(request.json_schema)
            except ValueError as exc:
                raise InvalidArgument("json_schema", str(exc)) from None
        checks = OutputChecks(request.system_prompt, request.canary, schema)
        guard = self._guard()
        try:
            report = await self._run(len(text), lambda: guard.check_output(text, policy, checks))
        except output_checks.SchemaUnusable as exc:
            raise InvalidArgument("json_schema", str(exc)) from None
        return pb.CheckOutputResponse(**_report_fields(report))

    async def RedactStream(
        self, request_iterator: AsyncIterator[pb.RedactStreamRequest], context: aio.ServicerContext
    ) -> AsyncIterator[pb.RedactStreamResponse]:
        redactor: StreamRedactor | None = None
        total = 0
        index = 0
        async for request in request_iterator:
            if redactor is None:
                policy = self._policy(request.tenant, request.policy, request.HasField("policy"))
                redactor = StreamRedactor(
                    self._guard(), policy, max_hold=self.settings.max_stream_hold_chars
                )
            total += len(request.text)
            if total > self.settings.max_stream_chars:
                raise InvalidArgument(
                    f"requests[{index}].text",
                    f"stream exceeds {self.settings.max_stream_chars} characters",
                )
            index += 1
            if not request.text:
                continue
            text, found = _released(redactor.push, request.text)
            if text or found:
                yield pb.RedactStreamResponse(text=text, findings=[_finding(f) for f in found])
        if redactor is not None:
            text, found = _released(lambda _: redactor.flush(), "")
            if text or found:
                yield pb.RedactStreamResponse(text=text, findings=[_finding(f) for f in found])

    # -- conversion --------------------------------------------------------------------------

    def _text(self, text: str, field: str) -> str:
        if not text.strip():
            raise InvalidArgument(field, "must not be empty")
        if len(text) > self.settings.max_text_chars:
            raise InvalidArgument(
                field, f"is {len(text)} characters; the limit is {self.settings.max_text_chars}"
            )
        return text

    def _policy(self, tenant: str, message: pb.Policy, present: bool) -> Policy:
        if len(tenant) > 256:
            raise InvalidArgument("tenant", "longer than 256 characters")
        if tenant:
            set_tenant(tenant)
        base = self.policies.for_tenant(tenant)
        if not present:
            return base
        actions: dict[str, Action] = {}
        for name, value in message.actions.items():
            if name not in DEFAULT_ACTIONS:
                # A misspelt type would otherwise be ignored and its default kept.
                raise InvalidArgument(
                    f"policy.actions[{name}]",
                    f"unknown finding type; known: {', '.join(sorted(DEFAULT_ACTIONS))}",
                )
            if value not in pb.Action.values():
                raise InvalidArgument(f"policy.actions[{name}]", f"unknown Action value {value}")
            actions[name] = Action(value)
        unknown = [d for d in message.disabled_detectors if d not in DETECTORS]
        if unknown:
            raise InvalidArgument(
                "policy.disabled_detectors",
                f"unknown detector {unknown[0]!r}; known: {', '.join(DETECTORS)}",
            )
        if not 0.0 <= message.min_score <= 1.0:
            raise InvalidArgument("policy.min_score", "must be between 0 and 1")
        return base.overridden(
            actions=actions, disabled=set(message.disabled_detectors), min_score=message.min_score
        )

    async def _run(self, size: int, work: Callable[[], T]) -> T:
        if size > self.settings.offload_chars:
            return await asyncio.to_thread(work)
        return work()


def _released(
    step: Callable[[str], tuple[str, list[Finding]]], chunk: str
) -> tuple[str, list[Finding]]:
    try:
        return step(chunk)
    except StreamBlocked as blocked:
        raise PermissionDenied(
            f"output blocked: {blocked.finding.type}",
            reason=blocked.finding.type,
            metadata={"start": str(blocked.finding.start), "end": str(blocked.finding.end)},
        ) from None


def _finding(f: Finding) -> pb.Finding:
    return pb.Finding(
        type=f.type,
        start=f.start,
        end=f.end,
        score=f.score,
        detector=f.detector,
        action=int(f.action),  # type: ignore[arg-type]
        placeholder=f.placeholder,
        message=f.message,
    )


def _report_fields(report: Report) -> dict[str, Any]:
    return {
        "verdict": int(report.verdict),
        "findings": [_finding(f) for f in report.findings],
        "redacted_text": report.redacted_text,
        "reason": report.reason,
    }
