"""A fault-injecting stand-in for the OpenAI and Anthropic HTTP APIs, on loopback.

The paid APIs cannot be reached here, so this server speaks their documented
wire formats exactly (HTTP/1.1, JSON bodies, Server-Sent Events with chunked
transfer encoding, their error bodies and headers) and the tests drive it
through the real `openai` and `anthropic` SDKs. Each request takes the next
scripted Behaviour (or the default one):

- ok: a completion (JSON, or SSE when the request asks to stream)
- status: an error status with the provider's error body, e.g. 429 + Retry-After
- hang: accept the request and never answer (a timeout)
- drop: stream `drop_after` pieces, then close the connection mid-body (a
  non-streamed reply: headers and half of its JSON body, then the close)
- malformed: 200 with a body that is not valid JSON (or a broken SSE event)
- slow: stream many pieces `delay` seconds apart (to cancel in the middle)

It records each request and notices when a client closes a connection
while a response is still being sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

PIECES = ("Hello", ",", " world", "!")
_ids = itertools.count(1)

_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", None),
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass
class Behaviour:
    kind: str = "ok"  # ok | status | hang | drop | malformed | slow
    status: int = 200
    retry_after: str | None = None
    pieces: tuple[str, ...] = PIECES
    drop_after: int = 2
    delay: float = 0.0
    send_usage: bool = True

    @classmethod
    def ok(cls, *pieces: str, send_usage: bool = True) -> Behaviour:
        return cls("ok", pieces=pieces or PIECES, send_usage=send_usage)

    @classmethod
    def error(cls, status: int, retry_after: str | None = None) -> Behaviour:
        return cls("status", status=status, retry_after=retry_after)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeUpstream:
    def __init__(self) -> None:
        self.script: deque[Behaviour] = deque()
        self.default = Behaviour.ok()
        self.requests: list[Recorded] = []
        self.disconnected = asyncio.Event()
        self.disconnects = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def then(self, *behaviours: Behaviour) -> FakeUpstream:
        self.script.extend(behaviours)
        return self

    def reset(self) -> None:
        self.script.clear()
        self.default = Behaviour.ok()
        self.requests.clear()
        self.disconnected.clear()
        self.disconnects = 0

    async def start(self) -> FakeUpstream:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # -- HTTP/1.1 ------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                keep_open = await self._respond(request, reader, writer)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(
        self, request: Recorded, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        self.requests.append(request)
        behaviour = self.script.popleft() if self.script else self.default
        anthropic = request.path.endswith("/messages")
        stream = bool(request.body.get("stream"))
        if behaviour.kind == "hang":
            await self._until_closed(reader)
            return False
        if behaviour.kind == "status":
            body = (
                _anthropic_error(behaviour.status) if anthropic else _openai_error(behaviour.status)
            )
            headers = {"retry-after": behaviour.retry_after} if behaviour.retry_after else {}
            await _send_json(writer, behaviour.status, body, headers, anthropic)
            return True
        if behaviour.kind == "malformed":
            if stream:
                await _start_sse(writer, anthropic)
                await _chunk(
                    writer,
                    b"data: {this is not json\n\n"
                    if not anthropic
                    else b"event: message_start\ndata: {this is not json\n\n",
                )
                await _chunk(writer, b"")
            else:
                await _send_raw(writer, 200, b'{"id": "broken", "choices": [', anthropic)
            return True
        model = str(request.body.get("model", ""))
        if not stream:
            text = "".join(behaviour.pieces)
            n = len(behaviour.pieces)
            body = (
                _anthropic_message(model, text, n, request.body)
                if anthropic
                else _openai_completion(model, text, n, request.body, behaviour.send_usage)
            )
            if behaviour.kind == "drop":
                await _send_cut(writer, json.dumps(body).encode(), anthropic)
                return False
            await _send_json(writer, 200, body, {}, anthropic)
            return True
        pieces = behaviour.pieces
        if behaviour.kind == "slow":
            pieces = tuple(f" {i}" for i in range(10_000))
        events = (
            _anthropic_events(model, pieces, request.body)
            if anthropic
            else _openai_events(model, pieces, request.body, behaviour.send_usage)
        )
        watcher = asyncio.ensure_future(self._until_closed(reader))
        try:
            await _start_sse(writer, anthropic)
            sent = 0
            for event, is_piece in events:
                if watcher.done():
                    return False
                if behaviour.kind == "drop" and is_piece and sent >= behaviour.drop_after:
                    writer.transport.abort()  # no terminating chunk: the body is cut short
                    return False
                await _chunk(writer, event)
                if is_piece:
                    sent += 1
                    if behaviour.delay or behaviour.kind == "slow":
                        await asyncio.sleep(behaviour.delay or 0.02)
            await _chunk(writer, b"")
        except ConnectionError:
            self._note_disconnect()
            return False
        finally:
            watcher.cancel()
        return True

    async def _until_closed(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(1024):
                pass
        self._note_disconnect()

    def _note_disconnect(self) -> None:
        self.disconnects += 1
        self.disconnected.set()


async def _read_request(reader: asyncio.StreamReader) -> Recorded | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    _method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    raw = await reader.readexactly(length) if length else b""
    body = json.loads(raw) if raw else {}
    return Recorded(path=path, headers=headers, body=body)


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n".encode()


def _common_headers(anthropic: bool) -> bytes:
    request_id = f"req_{next(_ids):08d}"
    name = "request-id" if anthropic else "x-request-id"
    return f"{name}: {request_id}\r\n".encode()


async def _send_raw(
    writer: asyncio.StreamWriter,
    status: int,
    payload: bytes,
    anthropic: bool,
    headers: dict[str, str] | None = None,
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
    writer.write(
        _status_line(status)
        + b"content-type: application/json\r\n"
        + _common_headers(anthropic)
        + extra
        + f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def _send_cut(writer: asyncio.StreamWriter, payload: bytes, anthropic: bool) -> None:
    """A 200 whose body stops half-way: the length promised, the connection closed."""
    writer.write(
        _status_line(200)
        + b"content-type: application/json\r\n"
        + _common_headers(anthropic)
        + f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload[: len(payload) // 2]
    )
    await writer.drain()
    writer.transport.abort()


async def _send_json(
    writer: asyncio.StreamWriter,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    anthropic: bool,
) -> None:
    await _send_raw(writer, status, json.dumps(body).encode(), anthropic, headers)


async def _start_sse(writer: asyncio.StreamWriter, anthropic: bool) -> None:
    writer.write(
        _status_line(200)
        + b"content-type: text/event-stream; charset=utf-8\r\n"
        + b"cache-control: no-cache\r\n"
        + _common_headers(anthropic)
        + b"transfer-encoding: chunked\r\n\r\n"
    )
    await writer.drain()


async def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


def prompt_tokens(body: dict[str, Any]) -> int:
    """The fake's own input count: 10 plus one per word of every message."""
    words = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    system = body.get("system")
    if isinstance(system, str):
        words += len(system.split())
    return 10 + words


# -- OpenAI chat completions ---------------------------------------------------


def _openai_error(status: int) -> dict[str, Any]:
    kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {
        "error": {
            "message": f"fake upstream answered {status}",
            "type": kind,
            "param": None,
            "code": code,
        }
    }


def _openai_completion(
    model: str, text: str, pieces: int, request: dict[str, Any], send_usage: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    if send_usage:
        body["usage"] = {
            "prompt_tokens": prompt_tokens(request),
            "completion_tokens": pieces,
            "total_tokens": prompt_tokens(request) + pieces,
        }
    return body


def _openai_events(
    model: str, pieces: tuple[str, ...], request: dict[str, Any], send_usage: bool
) -> list[tuple[bytes, bool]]:
    include_usage = bool((request.get("stream_options") or {}).get("include_usage")) and send_usage
    base = {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
    }

    def event(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> bytes:
        chunk = {**base, "choices": choices}
        if include_usage:
            chunk["usage"] = usage
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    first = {
        "index": 0,
        "delta": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": None,
    }
    events = [(event([first]), False)]
    for piece in pieces:
        delta = {"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
        events.append((event([delta]), True))
    last = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    events.append((event([last]), False))
    if include_usage:
        usage = {
            "prompt_tokens": prompt_tokens(request),
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens(request) + len(pieces),
        }
        events.append((event([], usage), False))
    events.append((b"data: [DONE]\n\n", False))
    return events


# -- Anthropic messages ----------------------------------------------------------


def _anthropic_error(status: int) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {
            "type": _ANTHROPIC_ERROR_TYPES.get(status, "api_error"),
            "message": f"fake upstream answered {status}",
        },
    }


def _anthropic_message(
    model: str, text: str, pieces: int, request: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"msg_{next(_ids):024d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens(request), "output_tokens": pieces},
    }


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_events(
    model: str, pieces: tuple[str, ...], request: dict[str, Any]
) -> list[tuple[bytes, bool]]:
    head = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{next(_ids):024d}",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": model,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": prompt_tokens(request), "output_tokens": 1},
                },
            },
        ),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    events = [(e, False) for e in head]
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        events.append(
            (
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                ),
                True,
            )
        )
    tail = [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events + [(e, False) for e in tail]
