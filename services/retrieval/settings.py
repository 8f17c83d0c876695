"""Settings of the retrieval service: AIMESH_RETRIEVAL_<NAME> environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

REPO_ROOT = Path(__file__).resolve().parents[2]


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_RETRIEVAL_", extra="forbid", frozen=True)

    port: int = Field(50053, ge=0, le=65535, description="gRPC port; 0 picks a free one.")

    # Vector store: embedded Qdrant on disk unless a server URL is given.
    qdrant_path: Path = Field(
        REPO_ROOT / "var" / "qdrant",
        description="Directory of the embedded Qdrant store (used when qdrant_url is empty).",
    )
    qdrant_url: str = Field("", description="Qdrant server URL, e.g. http://qdrant:6333.")
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    qdrant_timeout_seconds: int = Field(
        10, ge=1, le=600, description="Timeout of one call to the Qdrant server."
    )
    collection: str = Field(
        "aimesh_chunks", pattern=r"^[A-Za-z0-9_\-]{1,128}$", description="Qdrant collection."
    )

    # Embeddings.
    embedding_backend: Literal["local", "openai"] = Field(
        "local", description="all-MiniLM-L6-v2 in process, or an OpenAI-compatible API."
    )
    embedding_base_url: str = Field("", description="OpenAI-compatible API base URL.")
    embedding_model: str = Field(
        "all-MiniLM-L6-v2", min_length=1, description="Model name sent to the embeddings API."
    )
    embedding_api_key: SecretStr | None = Field(
        None, description="API key of the embeddings API; never logged."
    )
    embedding_dimension: int = Field(
        0, ge=0, le=65536, description="Vector size of the API model; 0 asks the API at start."
    )
    embedding_batch_size: int = Field(
        16, ge=1, le=2048, description="Texts per embedding call (a Search waits for one)."
    )
    embedding_workers: int = Field(
        1, ge=1, le=64, description="Local model: worker processes (1: a thread in-process)."
    )
    embedding_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="Timeout of one embedding call."
    )

    # Chunking, in word pieces of the MiniLM tokenizer (the model reads at most 256).
    chunk_tokens: int = Field(240, ge=16, le=8192, description="Largest chunk, in tokens.")
    chunk_overlap_tokens: int = Field(
        32, ge=0, le=4096, description="Tokens a chunk shares with the one before."
    )
    max_document_chars: int = Field(2_000_000, ge=1, description="Longer documents fail alone.")
    max_documents_per_request: int = Field(
        1000, ge=1, le=100_000, description="Documents one UpsertDocuments may carry."
    )

    # Search.
    default_top_k: int = Field(5, ge=1, le=100, description="Results when top_k is 0.")
    # Hybrid ranking: weighted reciprocal rank fusion of dense and keyword hits.
    # k=10 beat 30 and 60 at every weight on SciFact dev (eval --sweep); 1:1 weights kept.
    fusion_k: int = Field(10, ge=1, le=1000, description="k of reciprocal rank fusion.")
    fusion_dense_weight: float = Field(
        1.0, ge=0, le=100, description="Weight of the dense ranking in the fusion."
    )
    fusion_keyword_weight: float = Field(
        1.0, ge=0, le=100, description="Weight of the keyword ranking in the fusion."
    )
    fusion_candidates: int = Field(100, ge=1, le=1000, description="Hits taken from each side.")

    @model_validator(mode="after")
    def _consistent(self) -> RetrievalSettings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        if self.embedding_backend == "openai" and not self.embedding_base_url:
            raise ValueError("embedding_backend=openai needs embedding_base_url")
        return self
