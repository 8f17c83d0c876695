"""A TCP proxy in front of Redis that counts what a client process asks of it.

Counts, over every connection through it, the commands sent (RESP arrays, as
every Redis client library sends them) and the round trips: a round trip is a
flight of requests on one connection answered by Redis before the client
sends again, so a pipeline of five commands is five commands and one trip.
Used to count the Redis round trips of one edge call; it adds a hop, so it is
never in the path of a timed figure.

    python -m bench._redis_proxy --upstream 127.0.0.1:6379
    prints "listening <port>"; each line "count" on stdin answers "<commands> <round trips>".
"""

from __future__ import annotations

import argparse
import asyncio
import sys


class Counter:
    commands = 0
    round_trips = 0


class _RespCommands:
    """Counts complete RESP arrays (commands) in a client's byte stream."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> int:
        self.buffer += data
        complete = 0
        while True:
            end = self._command_end(self.pos)
            if end is None:
                break
            self.pos = end
            complete += 1
        del self.buffer[: self.pos]
        self.pos = 0
        return complete

    def _line(self, pos: int) -> tuple[bytes, int] | None:
        eol = self.buffer.find(b"\r\n", pos)
        return None if eol < 0 else (bytes(self.buffer[pos:eol]), eol + 2)

    def _command_end(self, pos: int) -> int | None:
        header = self._line(pos)
        if header is None:
            return None
        line, pos = header
        if not line.startswith(b"*"):
            return pos  # an inline command: one line
        for _ in range(int(line[1:])):
            bulk = self._line(pos)
            if bulk is None:
                return None
            size_line, pos = bulk
            pos += int(size_line[1:]) + 2
            if pos > len(self.buffer):
                return None
        return pos


async def _pipe_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict[str, bool]
) -> None:
    parser = _RespCommands()
    while data := await reader.read(65536):
        Counter.commands += parser.feed(data)
        state["waiting"] = True
        writer.write(data)
        await writer.drain()
    writer.close()


async def _pipe_server(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict[str, bool]
) -> None:
    while data := await reader.read(65536):
        if state["waiting"]:
            Counter.round_trips += 1
            state["waiting"] = False
        writer.write(data)
        await writer.drain()
    writer.close()


async def _main(upstream: str) -> None:
    host, _, port = upstream.rpartition(":")

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, int(port))
        state = {"waiting": False}
        try:
            await asyncio.gather(
                _pipe_client(client_r, server_w, state), _pipe_server(server_r, client_w, state)
            )
        except (ConnectionError, OSError):
            pass
        finally:
            client_w.close()
            server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "count":
            print(f"{Counter.commands} {Counter.round_trips}", flush=True)
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", default="127.0.0.1:6379")
    asyncio.run(_main(parser.parse_args().upstream))


if __name__ == "__main__":
    main()
