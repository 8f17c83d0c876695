"""Wiring of the retrieval service: embedder, chunker, Qdrant store, servicer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grpc import aio
from tokenizers import Tokenizer

from aimesh.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.common.errors import Unavailable
from services.common.health import Check
from services.retrieval.chunking import Chunker
from services.retrieval.embedders import Embedder, make_embedder
from services.retrieval.encoder import packaged_model_dir
from services.retrieval.retriever import Retriever
from services.retrieval.servicer import RetrievalServicer
from services.retrieval.settings import RetrievalSettings
from services.retrieval.store import ChunkStore, Fusion


def chunk_tokenizer() -> Tokenizer:
    """MiniLM's word-piece tokenizer, untruncated: token budgets count in its units."""
    tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def make_chunker(settings: RetrievalSettings) -> Chunker:
    tokenizer = chunk_tokenizer()

    def offsets(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [list(e.offsets) for e in encodings]

    return Chunker(offsets, settings.chunk_tokens, settings.chunk_overlap_tokens)


class RetrievalApp:
    name = "retrieval"
    service_names = (retrieval_pb2.DESCRIPTOR.services_by_name["RetrievalService"].full_name,)

    def __init__(self, settings: RetrievalSettings) -> None:
        self.settings = settings
        self.embedder: Embedder = make_embedder(settings)
        self.store: ChunkStore | None = None
        self.retriever: Retriever | None = None
        self._servicer = RetrievalServicer(self._get_retriever)

    def _get_retriever(self) -> Retriever:
        if self.retriever is None:
            # Health is NOT_SERVING until start() returns; early calls may retry.
            raise Unavailable("retrieval is starting", reason="STARTING", retry_after=1.0)
        return self.retriever

    def register(self, server: aio.Server) -> None:
        retrieval_pb2_grpc.add_RetrievalServiceServicer_to_server(self._servicer, server)

    def checks(self) -> Mapping[str, Check]:
        async def store_ready() -> bool:
            return self.store is not None and await self.store.ready()

        return {"embedding_model": self.embedder.ready, "qdrant": store_ready}

    async def start(self) -> None:
        s = self.settings
        await self.embedder.start()
        store = ChunkStore(s, self.embedder.dimension)
        await store.open()
        self.store = store
        self.retriever = Retriever(
            self.embedder,
            store,
            make_chunker(s),
            max_document_chars=s.max_document_chars,
            max_documents=s.max_documents_per_request,
            default_top_k=s.default_top_k,
            fusion=Fusion(
                k=s.fusion_k,
                dense_weight=s.fusion_dense_weight,
                keyword_weight=s.fusion_keyword_weight,
                candidates=s.fusion_candidates,
            ),
        )

    async def stop(self) -> None:
        if self.store is not None:
            await self.store.close()
        await self.embedder.close()
