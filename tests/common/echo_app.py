"""A tiny service on the shared runtime, to test the runtime itself.

It implements LlmService.Generate with behaviours chosen by the first message:
  "request-id"      -> text is the x-request-id the call carried
  "sleep:<seconds>" -> answers after sleeping (for drain tests)
  "invalid"         -> InvalidArgument on messages[0].content
  "boom"            -> an unhandled exception carrying a fake secret
  "forward"         -> calls Generate("request-id") on AIMESH_ECHO_UPSTREAM
GenerateStream streams the pieces "0", "1", ... without pause until the client
goes away (at most 100,000), to test a stream the client cancels.
Its one dependency, "flag", is ready while the file AIMESH_ECHO_READY_FILE exists.

Run: python -m tests.common.echo_app
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from grpc import aio
from pydantic_settings import SettingsConfigDict

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from services.common import errors
from services.common.clients import connect
from services.common.context import REQUEST_ID_HEADER
from services.common.health import Check
from services.common.server import main
from services.common.settings import ServiceSettings


class EchoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_ECHO_", extra="forbid", frozen=True)

    ready_file: str = ""
    upstream: str = ""


class EchoServicer(llm_pb2_grpc.LlmServiceServicer):
    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings

    async def Generate(
        self, request: llm_pb2.GenerateRequest, context: aio.ServicerContext
    ) -> llm_pb2.GenerateResponse:
        command = request.messages[0].content if request.messages else ""
        if command == "request-id":
            metadata = dict(context.invocation_metadata() or ())
            return llm_pb2.GenerateResponse(text=str(metadata.get(REQUEST_ID_HEADER, "")))
        if command.startswith("sleep:"):
            await asyncio.sleep(float(command.split(":", 1)[1]))
            return llm_pb2.GenerateResponse(text="slept")
        if command == "invalid":
            raise errors.InvalidArgument("messages[0].content", "must not be 'invalid'")
        if command == "boom":
            raise RuntimeError("upstream said: api key sk-live-SECRET is wrong")
        if command == "forward":
            async with connect(self.settings.upstream) as channel:
                stub = llm_pb2_grpc.LlmServiceStub(channel)
                forwarded = llm_pb2.GenerateRequest(
                    messages=[llm_pb2.Message(role="user", content="request-id")]
                )
                return await stub.Generate(forwarded, timeout=context.time_remaining())
        return llm_pb2.GenerateResponse(text=command)

    async def GenerateStream(
        self, request: llm_pb2.GenerateStreamRequest, context: aio.ServicerContext
    ) -> AsyncIterator[llm_pb2.GenerateStreamResponse]:
        for index in range(100_000):
            yield llm_pb2.GenerateStreamResponse(text=str(index))


class EchoApp:
    name = "echo"
    service_names = (llm_pb2.DESCRIPTOR.services_by_name["LlmService"].full_name,)

    def __init__(self, settings: EchoSettings) -> None:
        self.settings = settings

    def register(self, server: aio.Server) -> None:
        llm_pb2_grpc.add_LlmServiceServicer_to_server(EchoServicer(self.settings), server)

    def checks(self) -> Mapping[str, Check]:
        async def flag() -> bool:
            ready_file = self.settings.ready_file
            return not ready_file or await asyncio.to_thread(Path(ready_file).exists)

        return {"flag": flag}

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


if __name__ == "__main__":
    main(EchoSettings, EchoApp)
