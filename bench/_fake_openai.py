"""An instant OpenAI chat completions upstream for the overhead bench.

Speaks the wire format of POST /v1/chat/completions as OpenAI documents it:
a `chat.completion` JSON object, or with `"stream": true` a text/event-stream
of `chat.completion.chunk` objects (role first, then content deltas, then the
finish reason) closed by `data: [DONE]`; with
`"stream_options": {"include_usage": true}` every chunk carries `"usage": null`
and one last chunk with empty `choices` carries the usage. It answers at once
with a fixed completion, so whatever a caller measures above it is the cost
of the layers in between. A model whose name contains "paced" streams its
content pieces 20 ms apart instead, to show whether pieces are forwarded as
they come.

Raw asyncio HTTP/1.1 with keep-alive (one Protocol per connection, no
framework): it must never be the bottleneck of the bench.

    python -m bench._fake_openai --port 0    # prints "listening <port>" on stdout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from typing import Any

# The fixed answer, streamed as one delta per piece.
PIECES = ("The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog.")
COMPLETION = "".join(PIECES)
PROMPT_TOKENS = 12
COMPLETION_TOKENS = len(PIECES)
USAGE = {
    "prompt_tokens": PROMPT_TOKENS,
    "completion_tokens": COMPLETION_TOKENS,
    "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
}
# A model name containing this streams its events PACE_SECONDS apart instead of at
# once, to show whether the layers above forward pieces as they arrive.
PACED_MARK = "paced"
PACE_SECONDS = 0.02
_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


def completion_body(model: str, request_id: str, created: int) -> bytes:
    return json.dumps(
        {
            "id": request_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": COMPLETION, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        },
        separators=(",", ":"),
    ).encode()


def stream_events(model: str, request_id: str, created: int, include_usage: bool) -> list[bytes]:
    """The SSE events of one streamed completion, `data: [DONE]` included."""

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": request_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    chunks += [chunk({"content": piece}, None) for piece in PIECES]
    chunks.append(chunk({}, "stop"))
    if include_usage:
        last = chunk({}, None)
        last["choices"] = []
        last["usage"] = USAGE
        chunks.append(last)
    events = [b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks]
    events.append(b"data: [DONE]\n\n")
    return events


def _response_head(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error(status: str, message: str, kind: str = "invalid_request_error") -> bytes:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})
    return (
        _response_head(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        + body.encode()
    )


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    counter = 0

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self._paced: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve_buffer()

    def _serve_buffer(self) -> None:
        while self.transport is not None and not self.transport.is_closing():
            if self._paced is not None and not self._paced.done():
                return  # answers go out in order: the next waits for this stream
            if not self._one_request():
                return

    async def _pace(self, framed: list[bytes]) -> None:
        """Send the content deltas PACE_SECONDS apart, as a model generating would.

        framed: role chunk, one chunk per piece, then finish, usage and [DONE],
        which follow the last piece at once (as OpenAI sends them).
        """
        assert self.transport is not None
        for index, frame in enumerate(framed):
            if self.transport.is_closing():
                return
            if 2 <= index <= len(PIECES):
                await asyncio.sleep(PACE_SECONDS)
            self.transport.write(frame)
        asyncio.get_running_loop().call_soon(self._serve_buffer)

    def _one_request(self) -> bool:
        """Parse and answer one complete request from the buffer; False when incomplete."""
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > _MAX_HEAD:
                self.transport.write(_error("431 Request Header Fields Too Large", "headers"))
                self.transport.close()
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, _version = head[0].split(" ", 2)
        except ValueError:
            self.transport.write(_error("400 Bad Request", "bad request line"))
            self.transport.close()
            return False
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parsed = _dechunk(self.buffer, start)
            if parsed is None:
                return False
            body, consumed = parsed
        else:
            length = int(headers.get("content-length", "0") or 0)
            if length > _MAX_BODY:
                self.transport.write(_error("413 Payload Too Large", "body too large"))
                self.transport.close()
                return False
            if len(self.buffer) < start + length:
                return False
            body, consumed = bytes(self.buffer[start : start + length]), start + length
        del self.buffer[:consumed]
        self._answer(method, target.split("?", 1)[0], body)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()
        return True

    def _answer(self, method: str, path: str, body: bytes) -> None:
        assert self.transport is not None
        if method == "GET" and path.rstrip("/").endswith("/models"):
            listing = json.dumps(
                {"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "me"}]}
            ).encode()
            self.transport.write(
                _response_head(
                    "200 OK",
                    [("Content-Type", "application/json"), ("Content-Length", str(len(listing)))],
                )
                + listing
            )
            return
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self.transport.write(_error("404 Not Found", f"no route {method} {path}"))
            return
        try:
            request = json.loads(body)
            model = str(request["model"])
            if not isinstance(request["messages"], list) or not request["messages"]:
                raise ValueError("messages")
        except (ValueError, KeyError, TypeError):
            self.transport.write(_error("400 Bad Request", "body needs model and messages"))
            return
        _Connection.counter += 1
        request_id = f"chatcmpl-bench{_Connection.counter}"
        created = int(time.time())
        if request.get("stream"):
            options = request.get("stream_options") or {}
            events = stream_events(model, request_id, created, bool(options.get("include_usage")))
            # As OpenAI does: chunked transfer, one HTTP chunk per event.
            out = [
                _response_head(
                    "200 OK",
                    [
                        ("Content-Type", "text/event-stream; charset=utf-8"),
                        ("Transfer-Encoding", "chunked"),
                        ("Cache-Control", "no-cache"),
                        ("x-request-id", request_id),
                    ],
                )
            ]
            framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in events] + [b"0\r\n\r\n"]
            if PACED_MARK in model:
                self.transport.write(out[0])
                self._paced = asyncio.get_running_loop().create_task(self._pace(framed))
            else:
                self.transport.write(b"".join(out + framed))
        else:
            payload = completion_body(model, request_id, created)
            self.transport.write(
                _response_head(
                    "200 OK",
                    [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(payload))),
                        ("x-request-id", request_id),
                    ],
                )
                + payload
            )


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked request body: (body, bytes consumed) or None while incomplete."""
    body = bytearray()
    pos = start
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(bytes(buffer[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", pos - 2)
            if trailer_end < 0:
                return None
            return bytes(body), trailer_end + 4
        if len(buffer) < pos + size + 2:
            return None
        body += buffer[pos : pos + size]
        pos += size + 2


async def serve(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(_Connection, host, port, backlog=1024, reuse_address=True)


async def _main(host: str, port: int) -> None:
    server = await serve(host, port)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_main(args.host, args.port))


if __name__ == "__main__":
    main()
