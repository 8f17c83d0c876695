"""The one small interface every provider implements, and its data types.

A provider turns a ChatRequest into a Completion (unary) or a stream of
StreamEvents, and turns every failure of its SDK into a ProviderError whose
`kind` says what went wrong and whether retrying can help. It does no retries
of its own: the policy (backoff, deadline, fallbacks, circuit) lives in
services/llm/router.py.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

FinishReason = Literal["stop", "length", "content_filter", ""]
Role = Literal["system", "user", "assistant"]

ErrorKind = Literal[
    "rate_limit",  # 429
    "server_error",  # 5xx, or an error event inside a stream
    "timeout",  # no answer within the attempt's time
    "connection",  # refused, reset, dropped mid-stream
    "malformed",  # a body that is not what the wire format promises
    "auth",  # 401/403: our credentials are wrong; another provider may work
    "not_found",  # 404: the upstream model does not exist there
    "bad_request",  # 400/413/422: the request itself is at fault
    "queue_full",  # the local model's wait queue is full
    "unknown",
]
RETRYABLE_KINDS: frozenset[ErrorKind] = frozenset(
    {"rate_limit", "server_error", "timeout", "connection", "malformed"}
)


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_object: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: FinishReason
    usage: Usage | None


@dataclass(frozen=True)
class StreamEvent:
    """A text delta, and/or (usually last) the finish reason and usage."""

    text: str = ""
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass
class ProviderError(Exception):
    kind: ErrorKind
    message: str
    status: int | None = None
    retry_after: float | None = None
    provider: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.provider or 'provider'} {self.kind}{status}: {self.message}"


class Provider(Protocol):
    """A model provider. `model` is the upstream model id."""

    name: str
    kind: str

    @property
    def available(self) -> bool:
        """False when the provider cannot be called (no credentials, not started)."""

    async def generate(self, model: str, request: ChatRequest, read_timeout: float) -> Completion:
        """The whole completion; raises ProviderError."""

    def stream(
        self, model: str, request: ChatRequest, read_timeout: float
    ) -> AsyncGenerator[StreamEvent, None]:
        """Events as the provider sends them; raises ProviderError. Closing the
        iterator (or cancelling its consumer) closes the upstream connection."""

    async def close(self) -> None:
        """Release connections."""


def kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limit"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status in (408, 409) or status >= 500:
        # OpenAI and Anthropic both document 408/409 as worth retrying.
        return "timeout" if status == 408 else "server_error"
    if status in (400, 413, 422):
        return "bad_request"
    return "unknown"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Retry-After as seconds: `retry-after-ms`, or `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# Any run of this many characters of our key is hidden, not just the whole key:
# upstreams and gateways echo keys truncated or partly masked.
_KEY_FRAGMENT = 8


def scrub(text: str, secret: str, limit: int = 300) -> str:
    """A provider's error text, shortened, with our key removed should it echo
    it, in whole or in part (every run of 8 or more of its characters)."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
        if len(secret) >= _KEY_FRAGMENT:
            text = _hide_fragments(text, secret)
    return text if len(text) <= limit else text[:limit] + "..."


def _hide_fragments(text: str, secret: str) -> str:
    n = _KEY_FRAGMENT
    pieces = {secret[i : i + n] for i in range(len(secret) - n + 1)}
    hidden = [False] * len(text)
    for i in range(len(text) - n + 1):
        if text[i : i + n] in pieces:
            hidden[i : i + n] = [True] * n
    if not any(hidden):
        return text
    out: list[str] = []
    previous = False
    for char, hide in zip(text, hidden, strict=True):
        if not hide:
            out.append(char)
        elif not previous:
            out.append("***")  # one mark per hidden run
        previous = hide
    return "".join(out)
