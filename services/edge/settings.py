"""Settings of the edge service: AIMESH_EDGE_<NAME> environment variables.

Redis is shared by the whole mesh, so its URL is also read from AIMESH_REDIS_URL.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.common import tls
from services.common.settings import ServiceSettings


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_EDGE_", extra="forbid", frozen=True)

    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")

    # Downstream services (grpc targets, e.g. dns:///llm-headless:50051 in Kubernetes).
    llm_target: str = Field(
        "127.0.0.1:50052",
        description="gRPC target of the llm service (dns:///llm-headless:50051 in Kubernetes).",
    )
    retrieval_target: str = Field(
        "127.0.0.1:50053", description="gRPC target of the retrieval service."
    )
    guardrails_target: str = Field(
        "127.0.0.1:50054", description="gRPC target of the guardrails service."
    )
    # TLS to the downstream services (services/common/tls.py): the CA that
    # verifies their certificates, and the edge's own certificate for mutual TLS.
    downstream_tls_ca_file: str = Field(
        "",
        description="PEM CA verifying the certificates of llm, retrieval and guardrails; "
        "set (or a client certificate set): downstream channels use TLS.",
    )
    downstream_tls_cert_file: str = Field(
        "", description="PEM client certificate the edge presents to them (mutual TLS)."
    )
    downstream_tls_key_file: str = Field(
        "", description="Unencrypted PEM private key of DOWNSTREAM_TLS_CERT_FILE."
    )
    # Bound on a downstream call when the client sent no deadline.
    default_deadline_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Bound of a downstream call when the client sent no deadline.",
    )

    # Redis for limits, budgets, cache and (optionally) keys; empty: in-process.
    redis_url: str = Field(
        "",
        validation_alias=AliasChoices("AIMESH_EDGE_REDIS_URL", "AIMESH_REDIS_URL"),
        description="Redis of limits, budgets, cache, keys (or AIMESH_REDIS_URL); empty: local.",
    )
    # Every Redis key starts with this (tests use a unique one each).
    redis_prefix: str = Field(
        "aimesh:edge:", min_length=1, max_length=100, description="Prefix of every Redis key."
    )
    redis_timeout_seconds: float = Field(
        0.5, gt=0, le=30, description="Timeout of one Redis command."
    )
    redis_max_connections: int = Field(
        64, ge=1, le=10_000, description="Size of the Redis connection pool."
    )
    # When Redis is unreachable: admit ("open") or reject with UNAVAILABLE ("closed").
    redis_failure_mode: Literal["open", "closed"] = Field(
        "closed",
        description="Redis unreachable: admit (open) or refuse with UNAVAILABLE (closed).",
    )

    # API keys: a JSON file (reloaded when it changes) and/or a Redis hash.
    api_keys_file: str = Field(
        "",
        description="JSON file of hashed API keys (services.edge.keys), reloaded when it changes.",
    )
    api_keys_in_redis: bool = Field(False, description="Also look API keys up in Redis.")
    api_keys_reload_seconds: float = Field(
        1.0, gt=0, le=3600, description="How often the key file is checked for changes."
    )
    # Tiers (models, limits, budgets) override file; empty keeps the built-in tiers.
    tiers_file: str = Field(
        "", description="Tiers (models, limits, budgets) file; empty: the built-in tiers."
    )

    # Unauthenticated calls per client address per window (slows key guessing).
    unauthenticated_requests_per_window: int = Field(
        60, ge=1, description="Calls without a valid key per client address per window."
    )
    rate_window_seconds: float = Field(
        60.0, gt=0, le=86_400, description="Window of the per-minute rate limits."
    )

    # Durable record of settled charges, replayed when Redis lost the day's spend.
    ledger_dir: str = Field(
        "",
        description="Durable ledger of settled charges (restores spend Redis lost); empty: none.",
    )

    # Request validation.
    max_messages: int = Field(64, ge=1, le=10_000, description="Messages per Chat request.")
    max_message_chars: int = Field(32_000, ge=1, description="Characters per message.")
    max_total_chars: int = Field(
        128_000, ge=1, description="Characters of all messages of a request."
    )
    max_question_chars: int = Field(4_000, ge=1, description="Characters of an Ask question.")
    max_stop_sequences: int = Field(4, ge=0, le=16, description="Stop sequences per request.")
    max_ingest_batch: int = Field(
        256, ge=1, le=10_000, description="Documents per IngestDocuments request."
    )
    max_document_chars: int = Field(
        1_000_000, ge=1, description="Characters per ingested document."
    )
    max_document_id_chars: int = Field(256, ge=1, description="Characters of a document id.")
    max_filter_entries: int = Field(16, ge=0, description="Entries of a metadata filter.")
    max_delete_ids: int = Field(
        1_000, ge=1, description="Document ids per DeleteDocuments request."
    )

    # Token estimates without a round trip: characters per token for limits and
    # context fitting (conservative for English BPE vocabularies).
    chars_per_token: float = Field(
        3.0,
        gt=0.5,
        le=10,
        description="Characters per token when estimating tokens for limits without a round trip.",
    )

    # RAG.
    ask_default_top_k: int = Field(
        5, ge=1, le=20, description="Chunks retrieved for Ask when top_k is 0."
    )
    # How chunks are ranked for Ask.
    ask_search_mode: Literal["hybrid", "dense", "keyword"] = Field(
        "hybrid", description="How chunks are ranked for Ask."
    )
    # Relevance: a chunk is used only when its embedding's cosine similarity to
    # the question reaches this (all-MiniLM-L6-v2: related text scores about
    # 0.5-0.9, unrelated below 0.25); none reaching it escalates. 0 disables.
    ask_min_similarity: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Cosine similarity a chunk needs; none reaching it escalates; 0 disables.",
    )
    ask_check_documents: bool = Field(
        True,
        description="Check retrieved chunks for injection, hidden unicode, secrets.",
    )

    # Guardrails policy overrides for what goes in to a model (user input and
    # retrieved chunks), e.g. {"EMAIL_ADDRESS": "report"} lets users give their
    # own email address; model output is always redacted by the tenant's policy.
    input_policy_actions: dict[str, Literal["report", "redact", "block"]] = Field(
        {},
        description='Guardrails actions on input (JSON), e.g. {"EMAIL_ADDRESS": "report"}.',
    )
    # Overrides for what comes out (RedactStream, CheckOutput), finding by
    # finding, over the edge's defaults ({"DATE_TIME": "report"}: weekdays and
    # dates in answers are not masked); {"DATE_TIME": "redact"} masks them again.
    output_policy_actions: dict[str, Literal["report", "redact", "block"]] = Field(
        {},
        description="Guardrails actions on output (JSON), over the default "
        '{"DATE_TIME": "report"}, e.g. {"DATE_TIME": "redact"}.',
    )
    # Retrieved chunks are checked for poisoning (injection, hidden unicode,
    # secrets); their PII reaches the model only when this is false, and the
    # answer is redacted on the way out either way.
    ask_redact_document_pii: bool = Field(
        False, description="Redact PII of retrieved chunks before the model sees them."
    )

    # Response cache for temperature-0 requests.
    cache_enabled: bool = Field(True, description="Cache answers of temperature-0 requests.")
    cache_ttl_seconds: int = Field(3600, ge=1, description="Lifetime of a cached answer.")

    # Model catalogue (llm ListModels) refresh.
    models_refresh_seconds: float = Field(
        60.0, gt=0, description="How often the model catalogue is read from the llm service."
    )
    # Routing: a deadline shorter than this, or a short prompt, picks the fastest model.
    routing_fast_deadline_seconds: float = Field(
        10.0, ge=0, description="A deadline shorter than this routes to the fastest model."
    )
    routing_complex_prompt_tokens: int = Field(
        1_500, ge=1, description="Prompts this long route to the most capable model."
    )

    @field_validator("downstream_tls_ca_file", "downstream_tls_cert_file")
    @classmethod
    def _downstream_certificates(cls, path: str) -> str:
        if path:
            tls.certificates(path)
        return path

    @field_validator("downstream_tls_key_file")
    @classmethod
    def _downstream_key(cls, path: str) -> str:
        if path:
            tls.private_key(path)
        return path

    @model_validator(mode="after")
    def _downstream_tls_complete(self) -> Self:
        tls.check_pair(
            "AIMESH_EDGE_DOWNSTREAM_TLS_CERT_FILE",
            self.downstream_tls_cert_file,
            "AIMESH_EDGE_DOWNSTREAM_TLS_KEY_FILE",
            self.downstream_tls_key_file,
        )
        return self

    @property
    def downstream_tls_enabled(self) -> bool:
        return bool(self.downstream_tls_ca_file or self.downstream_tls_cert_file)
