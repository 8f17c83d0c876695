"""One server interceptor for what every call needs.

For each call: accept or create the request id and return it in the initial
metadata; set the per-call context; count and time the call; map domain errors
to statuses with details; write one access log line.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc
from google.protobuf.descriptor import Descriptor
from grpc import aio

from services.common import errors, metrics
from services.common.context import (
    REQUEST_ID_HEADER,
    accept_request_id,
    method_var,
    request_id_var,
    tenant_var,
)
from services.common.decoding import Undecodable, invalid_request, safe_deserializer

log = logging.getLogger("aimesh.access")
error_log = logging.getLogger("aimesh.errors")

# Probes and reflection are counted but not logged: they would drown the log.
_QUIET_SERVICES = (
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
)


class _Call:
    """Book-keeping for one RPC: context, metrics, status and the access log."""

    def __init__(self, method: str, grpc_type: str, context: aio.ServicerContext) -> None:
        _, service, name = method.split("/", 2)
        self.labels = (grpc_type, service, name)
        self.quiet = service in _QUIET_SERVICES
        self.context = context
        incoming = dict(context.invocation_metadata() or ())
        self.request_id = accept_request_id(incoming.get(REQUEST_ID_HEADER))
        request_id_var.set(self.request_id)
        tenant_var.set("")
        method_var.set(method)
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        metrics.STARTED.labels(*self.labels).inc()

    async def begin(self) -> None:
        await self.context.send_initial_metadata(((REQUEST_ID_HEADER, self.request_id),))

    async def fail(self, exc: BaseException) -> None:
        """Turn an exception into the call's status; always raises."""
        if isinstance(exc, asyncio.CancelledError):
            self.code = self.cancelled_code()
            raise exc
        if isinstance(exc, aio.AbortError):
            # The handler aborted by itself; its code is already set.
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN
            raise exc
        if isinstance(exc, errors.ServiceError):
            error = exc
        elif isinstance(exc, NotImplementedError):
            error = errors.Unimplemented("method not implemented")
        else:
            error_log.error("unhandled error", exc_info=exc)
            error = errors.internal_error(self.request_id)
        self.code = error.code
        await self.context.abort_with_status(errors.to_grpc_status(error))

    def cancelled_code(self) -> grpc.StatusCode:
        """grpc cancels the handler both when the client goes away and when the deadline
        passes; operators alert on the second, so it is counted as what it is."""
        remaining = self.context.time_remaining()
        if remaining is not None and remaining <= 0:
            return grpc.StatusCode.DEADLINE_EXCEEDED
        return grpc.StatusCode.CANCELLED

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.started
        metrics.HANDLED.labels(*self.labels, self.code.name).inc()
        metrics.HANDLING_SECONDS.labels(*self.labels).observe(elapsed)
        if not self.quiet:
            log.info(
                "rpc",
                extra={"code": self.code.name, "latency_ms": round(elapsed * 1000, 3)},
            )


def _checked(request_or_iterator: Any, descriptor: Descriptor | None) -> Any:
    """The request, or an iterator of requests, with undecodable ones rejected."""
    if isinstance(request_or_iterator, Undecodable):
        raise invalid_request(request_or_iterator, descriptor)
    if hasattr(request_or_iterator, "__aiter__"):

        async def checked_stream() -> AsyncIterator[Any]:
            index = 0
            async for request in request_or_iterator:
                if isinstance(request, Undecodable):
                    raise invalid_request(request, descriptor, f"requests[{index}].")
                index += 1
                yield request

        return checked_stream()
    return request_or_iterator


def _wrap_unary_response(
    behavior: Callable[..., Awaitable[Any]],
    method: str,
    grpc_type: str,
    descriptor: Descriptor | None,
) -> Callable[..., Awaitable[Any]]:
    async def wrapped(request_or_iterator: Any, context: aio.ServicerContext) -> Any:
        call = _Call(method, grpc_type, context)
        try:
            await call.begin()
            response = behavior(_checked(request_or_iterator, descriptor), context)
            return await response if inspect.isawaitable(response) else response
        except BaseException as exc:
            await call.fail(exc)
        finally:
            call.finish()

    return wrapped


def _wrap_stream_response(
    behavior: Callable[..., AsyncIterator[Any]],
    method: str,
    grpc_type: str,
    descriptor: Descriptor | None,
) -> Callable[..., AsyncIterator[Any]]:
    async def wrapped(request_or_iterator: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        call = _Call(method, grpc_type, context)
        sent = metrics.MSG_SENT.labels(*call.labels)
        try:
            await call.begin()
            requests = _checked(request_or_iterator, descriptor)
            async with aclosing(_as_async_iterator(behavior(requests, context))) as responses:
                async for response in responses:
                    yield response
                    sent.inc()
        except GeneratorExit:
            # The client went away while a response was on its way: grpc drops this
            # generator and the event loop closes it. Nothing can be sent any more (an
            # abort here fails inside grpc), so the handler's generator is closed (by
            # `aclosing`, releasing its downstream calls at once) and the call is
            # counted as cancelled (or as the deadline passing).
            call.code = call.cancelled_code()
            raise
        except BaseException as exc:
            await call.fail(exc)
        finally:
            call.finish()

    return wrapped


async def _as_async_iterator(responses: Any) -> AsyncGenerator[Any, None]:
    """Accept async generators, plain iterables and coroutines that use context.write."""
    if inspect.isawaitable(responses):
        await responses
    elif hasattr(responses, "aclose"):
        async with aclosing(responses):
            async for response in responses:
                yield response
    elif hasattr(responses, "__aiter__"):
        async for response in responses:
            yield response
    elif responses is not None:
        for response in responses:
            yield response


class ServerInterceptor(aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        # FromString is bound to the message class, which knows its descriptor.
        message_class = getattr(handler.request_deserializer, "__self__", None)
        descriptor = getattr(message_class, "DESCRIPTOR", None)
        codec = {
            "request_deserializer": safe_deserializer(handler.request_deserializer),
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary_response(handler.unary_unary, method, "unary", descriptor), **codec
            )
        if handler.stream_unary:
            behavior = _wrap_unary_response(
                handler.stream_unary, method, "client_stream", descriptor
            )
            return grpc.stream_unary_rpc_method_handler(behavior, **codec)
        if handler.unary_stream:
            stream = _wrap_stream_response(
                handler.unary_stream, method, "server_stream", descriptor
            )
            return grpc.unary_stream_rpc_method_handler(stream, **codec)
        stream = _wrap_stream_response(handler.stream_stream, method, "bidi_stream", descriptor)
        return grpc.stream_stream_rpc_method_handler(stream, **codec)
