"""Settings of the retrieval service: AIMESH_RETRIEVAL_<NAME> environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class RetrievalSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_RETRIEVAL_", extra="forbid", frozen=True)

    port: int = Field(50053, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
