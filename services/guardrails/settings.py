"""Settings of the guardrails service: AIMESH_GUARDRAILS_<NAME> environment variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class GuardrailsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_GUARDRAILS_", extra="forbid", frozen=True)

    port: int = Field(50054, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    # Over-limit text is refused with INVALID_ARGUMENT on `text` (not a BLOCK
    # finding): the caller sent something no policy should have to scan.
    max_text_chars: int = Field(
        200_000,
        ge=1_000,
        le=10_000_000,
        description="Longest text of a check; longer is INVALID_ARGUMENT.",
    )
    max_stream_chars: int = Field(
        2_000_000, ge=1_000, le=100_000_000, description="Longest RedactStream in total."
    )
    # A PEM private key is ~1.7 KB: hold at least that much before giving up.
    max_stream_hold_chars: int = Field(
        4096,
        ge=64,
        le=65_536,
        description="Most text RedactStream holds back while a finding may still be growing.",
    )
    # JSON file of tenant policies; see policy.PolicyFile. Empty: built-in defaults.
    policy_file: Path | None = Field(
        None, description="JSON file of tenant policies; unset: built-in defaults."
    )
    # Chosen by `python -m services.guardrails.train cv` with the model (train.py).
    injection_threshold: float = Field(
        0.5, gt=0, lt=1, description="Score at which text is judged an injection or jailbreak."
    )
    # Documents (SOURCE_DOCUMENT) are judged with threshold * this factor.
    document_threshold_factor: float = Field(
        0.8, gt=0, le=1, description="Retrieved documents are judged at threshold times this."
    )
    # Texts longer than this are scanned in a worker thread so that a large
    # scan does not stall other calls; shorter ones are cheaper inline than a
    # thread hop (about 50-100 us).
    offload_chars: int = Field(
        8_192, ge=0, description="Texts longer than this are scanned in a worker thread."
    )
    ner_enabled: bool = Field(True, description="Detect PERSON and LOCATION with the NER tagger.")
