"""Settings of the edge service: AIMESH_EDGE_<NAME> environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class EdgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIMESH_EDGE_", extra="forbid", frozen=True)

    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
