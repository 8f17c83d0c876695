"""Per-call context (request id, tenant) carried in contextvars.

The server interceptor sets them for each call; log lines and outgoing calls
read them, so no servicer has to thread them through by hand.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "x-request-id"
# Accept a caller's id only when it is short and printable; otherwise make one.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
tenant_var: ContextVar[str] = ContextVar("tenant", default="")
method_var: ContextVar[str] = ContextVar("method", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(value: str | None) -> str:
    """The caller's request id when it is well formed, else a fresh one."""
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return new_request_id()


def set_tenant(tenant: str) -> None:
    """Record the tenant of the current call for logs and downstream calls."""
    tenant_var.set(tenant)


def outgoing_metadata() -> list[tuple[str, str]]:
    """Metadata that every downstream call of the current request carries."""
    request_id = request_id_var.get()
    return [(REQUEST_ID_HEADER, request_id)] if request_id else []
