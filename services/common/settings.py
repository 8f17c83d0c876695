"""Typed settings from AIMESH_<SERVICE>_<NAME> environment variables.

Each service subclasses ServiceSettings with its own prefix and fields. A bad
value, or a variable with the service's prefix that names no setting (a typo),
stops the start with a message naming the variable.
"""

from __future__ import annotations

import os
from typing import Literal, Self, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import tls


class SettingsError(SystemExit):
    """Raised at start for a bad setting; exits with status 2 and the message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 2
        self.message = message

    def __str__(self) -> str:
        return self.message


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `env_prefix` and `port`."""

    model_config = SettingsConfigDict(env_prefix="AIMESH_", extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to bind; 0.0.0.0 in containers.")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port; 0 picks a free one.")
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Prometheus /metrics port; 0 picks a free one."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level of the JSON log lines."
    )
    # SIGTERM: health goes NOT_SERVING, wait drain_delay for load balancers to
    # notice, then give in-flight calls grace_period to finish.
    drain_delay_seconds: float = Field(
        5.0,
        ge=0,
        le=300,
        description="On SIGTERM: time between health going NOT_SERVING and refusing new calls.",
    )
    grace_period_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="On SIGTERM: time in-flight calls get to finish after the drain delay.",
    )
    health_check_interval_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often the service's dependencies are checked for health.",
    )
    max_message_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest request or response message.",
    )
    keepalive_time_ms: int = Field(
        30_000, ge=1_000, description="Interval of HTTP/2 keepalive pings."
    )
    keepalive_timeout_ms: int = Field(
        10_000, ge=1_000, description="Time a keepalive ping may wait for its answer."
    )
    # Clients must re-resolve DNS now and then to find new pods after a scale-up.
    max_connection_age_ms: int = Field(
        300_000,
        ge=1_000,
        description="Connections are recycled after this, so clients find new pods.",
    )
    max_connection_age_grace_ms: int = Field(
        120_000, ge=0, description="Time a recycled connection's calls get to finish."
    )
    max_concurrent_rpcs: int | None = Field(
        None, ge=1, description="Bound on concurrent calls; unset: none."
    )

    # TLS on the gRPC port (services/common/tls.py); mutual with a client CA.
    tls_cert_file: str = Field(
        "",
        description="PEM certificate (chain) of the gRPC port; with TLS_KEY_FILE it is TLS only.",
    )
    tls_key_file: str = Field("", description="Unencrypted PEM private key of TLS_CERT_FILE.")
    tls_client_ca_file: str = Field(
        "",
        description="PEM CA certificates: when set, every caller must present a client "
        "certificate signed by one of them (mutual TLS).",
    )
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Plaintext port serving only the health service, for probes that cannot "
        "speak TLS (Kubernetes gRPC probes); unset: none.",
    )

    @classmethod
    def env_prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", ""))

    @field_validator("tls_cert_file", "tls_client_ca_file")
    @classmethod
    def _pem_certificates(cls, path: str) -> str:
        if path:
            tls.certificates(path)
        return path

    @field_validator("tls_key_file")
    @classmethod
    def _pem_key(cls, path: str) -> str:
        if path:
            tls.private_key(path)
        return path

    @model_validator(mode="after")
    def _tls_complete(self) -> Self:
        p = type(self).env_prefix()
        cert, key = f"{p}TLS_CERT_FILE", f"{p}TLS_KEY_FILE"
        tls.check_pair(cert, self.tls_cert_file, key, self.tls_key_file)
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError(f"{p}TLS_CLIENT_CA_FILE needs {cert} and {key}")
        return self

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls_cert_file)


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S]) -> S:
    """Read and validate settings, or raise SettingsError naming the variable."""
    prefix = cls.env_prefix()
    known = {prefix + name.upper() for name in cls.model_fields}
    unknown = sorted(
        k for k in os.environ if k.upper().startswith(prefix) and k.upper() not in known
    )
    if unknown:
        raise SettingsError(
            f"unknown setting {', '.join(unknown)}; known settings: {', '.join(sorted(known))}"
        )
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule over several settings names them itself
                problems.append(f"invalid settings: {error['msg'].removeprefix('Value error, ')}")
                continue
            name = str(error["loc"][0])
            variable = prefix + name.upper()
            value = os.environ.get(variable, "<unset>")
            field = cls.model_fields.get(name)
            if field is not None and "SecretStr" in str(field.annotation):
                value = "<hidden>"  # a secret is never echoed, even a bad one
            problems.append(f"invalid setting {variable}={value!r}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None
