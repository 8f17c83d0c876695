"""Settings of the guardrails service: AIMESH_GUARDRAILS_<NAME> environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class GuardrailsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_GUARDRAILS_", extra="forbid", frozen=True)

    port: int = Field(50054, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
