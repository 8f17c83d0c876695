"""The aimesh command-line client: python -m services.edge.cli <command>.

    ingest PATH...        store text/markdown files (directories recursively), in batches
    ask "question"        stream an answer from your documents, then its sources
    chat ["message"]      stream a reply; without a message, an interactive chat
    usage                 spend, budget and limits of your key
    delete ID...          remove documents by id

The key comes from AIMESH_API_KEY or --api-key; the edge from --target
(default 127.0.0.1:50051, or AIMESH_TARGET).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from tqdm import tqdm

from aimesh.edge.v1 import edge_pb2, edge_pb2_grpc

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst", ".text", ".csv", ".json", ".html"}


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise SystemExit(f"no such file: {raw}")


def _document(path: Path) -> edge_pb2.Document:
    text = path.read_text(encoding="utf-8", errors="replace")
    return edge_pb2.Document(
        id=path.as_posix(), title=path.name, text=text, metadata={"path": path.as_posix()}
    )


def _describe(error: grpc.RpcError) -> str:
    code = error.code()
    lines = [f"error: {code.name if code else 'UNKNOWN'}: {error.details()}"]
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  reason: {info.reason}")
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            lines.append(f"  retry after: {retry.retry_delay.ToMilliseconds() / 1000:.1f}s")
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines += [f"  {v.field}: {v.description}" for v in bad.field_violations]
    return "\n".join(lines)


_DOCUMENT_FIELD = re.compile(r"^documents\[(\d+)\]")


def _refused_documents(error: grpc.RpcError, count: int) -> dict[int, str]:
    """The documents of a batch an INVALID_ARGUMENT names (`documents[i]...`),
    with what is wrong with each; empty when it names none of them."""
    if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
        return {}
    status = rpc_status.from_call(error)
    refused: dict[int, list[str]] = {}
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            for violation in bad.field_violations:
                match = _DOCUMENT_FIELD.match(violation.field)
                if match and int(match.group(1)) < count:
                    field = violation.field[match.end() :].lstrip(".") or "document"
                    refused.setdefault(int(match.group(1)), []).append(
                        f"{field}: {violation.description}"
                    )
    return {i: "; ".join(reasons) for i, reasons in refused.items()}


class Client:
    def __init__(self, target: str, api_key: str, timeout: float) -> None:
        self.channel = grpc.insecure_channel(target)
        self.stub = edge_pb2_grpc.EdgeServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {api_key}")]
        self.timeout = timeout

    def ingest(self, paths: Sequence[str], batch_size: int) -> int:
        """Store the files; an empty file is skipped, a document the edge refuses
        is named by its path, and the rest are stored all the same. Non-zero
        when anything was skipped or not stored."""
        files = list(_files(paths))
        stored = 0
        skipped: list[Path] = []
        failed: list[Path] = []
        with tqdm(total=len(files), unit="doc", desc="ingest") as progress:
            for start in range(0, len(files), batch_size):
                chunk = files[start : start + batch_size]
                batch: list[tuple[Path, edge_pb2.Document]] = []
                for path in chunk:
                    document = _document(path)
                    if document.text.strip():
                        batch.append((path, document))
                    else:
                        skipped.append(path)
                        tqdm.write(f"warning: skipped {path}: the file is empty", file=sys.stderr)
                while batch:
                    try:
                        response = self.stub.IngestDocuments(
                            edge_pb2.IngestDocumentsRequest(documents=[d for _, d in batch]),
                            metadata=self.metadata,
                            timeout=self.timeout,
                        )
                    except grpc.RpcError as error:
                        refused = _refused_documents(error, len(batch))
                        if not refused:
                            raise
                        # Name the files the edge refused; send the others again.
                        for i, reasons in sorted(refused.items()):
                            failed.append(batch[i][0])
                            tqdm.write(f"failed {batch[i][0]}: {reasons}", file=sys.stderr)
                        batch = [item for i, item in enumerate(batch) if i not in refused]
                        continue
                    for (path, _), result in zip(batch, response.results, strict=False):
                        if result.status == edge_pb2.DOCUMENT_STATUS_STORED:
                            stored += 1
                        else:
                            failed.append(path)
                            tqdm.write(f"failed {path}: {result.error_message}", file=sys.stderr)
                    break
                progress.update(len(chunk))
        summary = f"stored {stored} of {len(files)} documents"
        if skipped:
            summary += f"; skipped {len(skipped)} empty"
        if failed:
            summary += f"; {len(failed)} failed"
        print(summary)
        return 1 if skipped or failed else 0

    def ask(self, question: str, max_tokens: int) -> int:
        request = edge_pb2.AskStreamRequest(question=question, max_tokens=max_tokens)
        last = edge_pb2.AskStreamResponse()
        for message in self.stub.AskStream(request, metadata=self.metadata, timeout=self.timeout):
            print(message.text, end="", flush=True)
            last = message
        print()
        if last.escalate:
            print("(nothing relevant in your documents: a person should follow up)")
        for c in last.citations:
            print(f"[{c.index}] {c.title or c.document_id} ({c.document_id}, {c.start}-{c.end})")
        self._footer(last)
        return 0

    def chat(self, messages: list[edge_pb2.Message], max_tokens: int) -> str:
        request = edge_pb2.ChatStreamRequest(messages=messages, max_tokens=max_tokens)
        reply: list[str] = []
        last = edge_pb2.ChatStreamResponse()
        for message in self.stub.ChatStream(request, metadata=self.metadata, timeout=self.timeout):
            print(message.text, end="", flush=True)
            reply.append(message.text)
            last = message
        print()
        self._footer(last)
        return "".join(reply)

    def usage(self) -> int:
        u = self.stub.GetUsage(edge_pb2.GetUsageRequest(), metadata=self.metadata, timeout=10)
        print(f"tenant {u.tenant} ({u.tier} tier)")
        print(
            f"spent today ${u.spent_micros / 1e6:.6f} of ${u.budget_micros / 1e6:.2f}; "
            f"resets {u.resets_at.ToDatetime().isoformat()}Z"
        )
        print(
            f"key limits: {u.key_limits.requests_per_minute} requests/min, "
            f"{u.key_limits.tokens_per_minute} tokens/min"
        )
        print(
            f"tenant limits: {u.tenant_limits.requests_per_minute} requests/min, "
            f"{u.tenant_limits.tokens_per_minute} tokens/min"
        )
        print(f"models: {', '.join(u.allowed_models)}")
        return 0

    def delete(self, ids: Sequence[str]) -> int:
        response = self.stub.DeleteDocuments(
            edge_pb2.DeleteDocumentsRequest(document_ids=ids),
            metadata=self.metadata,
            timeout=self.timeout,
        )
        print(f"deleted {response.deleted_documents} documents ({response.deleted_chunks} chunks)")
        return 0

    @staticmethod
    def _footer(last: edge_pb2.AskStreamResponse | edge_pb2.ChatStreamResponse) -> None:
        notes = [
            f"model {last.model}",
            f"{last.usage.input_tokens} in / {last.usage.output_tokens} out tokens",
            f"${last.cost_micros / 1e6:.6f}",
        ]
        if last.cached:
            notes.append("cached")
        if last.redacted:
            notes.append("PII redacted")
        print(f"-- {'; '.join(notes)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.edge.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--target", default=os.environ.get("AIMESH_TARGET", "127.0.0.1:50051"))
    parser.add_argument("--api-key", default=os.environ.get("AIMESH_API_KEY", ""))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per call")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="store files as documents")
    ingest.add_argument("paths", nargs="+")
    ingest.add_argument("--batch-size", type=int, default=64)
    ask = commands.add_parser("ask", help="answer a question from your documents")
    ask.add_argument("question")
    ask.add_argument("--max-tokens", type=int, default=0)
    chat = commands.add_parser("chat", help="chat with the model")
    chat.add_argument("message", nargs="?")
    chat.add_argument("--max-tokens", type=int, default=0)
    commands.add_parser("usage", help="spend, budget and limits")
    delete = commands.add_parser("delete", help="remove documents by id")
    delete.add_argument("ids", nargs="+")
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("no API key: set AIMESH_API_KEY or pass --api-key")

    client = Client(args.target, args.api_key, args.timeout)
    try:
        if args.command == "ingest":
            return client.ingest(args.paths, max(1, args.batch_size))
        if args.command == "ask":
            return client.ask(args.question, args.max_tokens)
        if args.command == "usage":
            return client.usage()
        if args.command == "delete":
            return client.delete(args.ids)
        if args.message:
            client.chat([edge_pb2.Message(role="user", content=args.message)], args.max_tokens)
            return 0
        history: list[edge_pb2.Message] = []
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                return 0
            if not line:
                continue
            history.append(edge_pb2.Message(role="user", content=line))
            reply = client.chat(history, args.max_tokens)
            history.append(edge_pb2.Message(role="assistant", content=reply))
    except grpc.RpcError as error:
        print(_describe(error), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        client.channel.close()


if __name__ == "__main__":
    raise SystemExit(main())
