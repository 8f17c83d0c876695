"""Settings of the llm service: AIMESH_LLM_<NAME> environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class LlmSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_LLM_", extra="forbid", frozen=True)

    port: int = Field(50052, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
