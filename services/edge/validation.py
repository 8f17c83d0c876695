"""Request validation: every violation names its field in a BadRequest.

Checks that need the model (output limit, context window) run once the model
is known, in `check_model_limits`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from aimesh.edge.v1 import edge_pb2
from services.common.errors import InvalidArgument
from services.edge.catalogue import ModelInfo
from services.edge.settings import EdgeSettings

ROLES = ("system", "user", "assistant")
MAX_STOP_CHARS = 64
MAX_TITLE_CHARS = 1_000
MAX_METADATA_ENTRIES = 32
MAX_METADATA_CHARS = 512
# A filter key names a metadata entry: a plain name, never a path into the
# stored record (retrieval refuses anything else; refusing it here names the field).
FILTER_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# Tokens a chat template adds per message, and per prompt (a safe over-estimate).
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS_PER_PROMPT = 16


class PromptTooLong(InvalidArgument):
    """The prompt does not fit the model's context window, or leaves too little
    of it for the output asked for (INVALID_ARGUMENT, like any bad field)."""


class Violations:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, field: str, description: str) -> None:
        self.items.append((field, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(*self.items[0], *self.items[1:])


# East Asian scripts (hangul jamo, CJK radicals to ideographs, yi, hangul
# syllables, compatibility ideographs, fullwidth forms, the supplementary
# ideographs): tokenizers make about one token of each character, or more,
# never one of `chars_per_token` of them.
_WIDE = re.compile(
    "[\u1100-\u11ff\u2e80-\u9fff\ua000-\ua4cf\uac00-\ud7af\uf900-\ufaff"
    "\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff]"
)


def estimate_tokens(text: str, chars_per_token: float) -> int:
    """A typical token count: one per East Asian character, one per
    `chars_per_token` of any other."""
    wide = 0 if text.isascii() else len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / chars_per_token)


def prompt_tokens_estimate(contents: Sequence[str], chars_per_token: float) -> int:
    """A typical count, for limits and context fitting."""
    return TEMPLATE_TOKENS_PER_PROMPT + sum(
        estimate_tokens(c, chars_per_token) + TEMPLATE_TOKENS_PER_MESSAGE for c in contents
    )


def prompt_tokens_bound(contents: Sequence[str]) -> int:
    """A strict upper bound (no tokenizer makes more tokens than UTF-8 bytes),
    for budget reservations."""
    return TEMPLATE_TOKENS_PER_PROMPT + sum(
        len(c.encode("utf-8")) + TEMPLATE_TOKENS_PER_MESSAGE for c in contents
    )


def _sampling(
    v: Violations,
    *,
    temperature: float | None,
    top_p: float | None = None,
    max_tokens: int,
) -> None:
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 2):
        v.add("temperature", "must be between 0 and 2")
    if top_p is not None and not (math.isfinite(top_p) and 0 < top_p <= 1):
        v.add("top_p", "must be greater than 0 and at most 1")
    if max_tokens < 0:
        v.add("max_tokens", "must not be negative (0 means the model's output limit)")


def _filter(v: Violations, field: str, entries: Mapping[str, str], settings: EdgeSettings) -> None:
    if len(entries) > settings.max_filter_entries:
        v.add(field, f"at most {settings.max_filter_entries} entries")
    for key, value in entries.items():
        if not FILTER_KEY.fullmatch(key):
            v.add(f"{field}[{key[:40]}]", "keys are 1 to 64 letters, digits, '_' or '-'")
        if len(value) > MAX_METADATA_CHARS:
            v.add(
                f"{field}[{key[:40]}]", f"values must have at most {MAX_METADATA_CHARS} characters"
            )


def validate_chat(
    request: edge_pb2.ChatRequest | edge_pb2.ChatStreamRequest, settings: EdgeSettings
) -> None:
    v = Violations()
    messages = request.messages
    if not messages:
        v.add("messages", "must have at least one message")
    if len(messages) > settings.max_messages:
        v.add("messages", f"at most {settings.max_messages} messages")
    total = 0
    seen_other = False
    for i, message in enumerate(messages[: settings.max_messages]):
        field = f"messages[{i}]"
        if message.role not in ROLES:
            v.add(f"{field}.role", f"must be one of {', '.join(ROLES)}")
        elif message.role == "system" and seen_other:
            v.add(f"{field}.role", "system messages must come before the conversation")
        if message.role != "system":
            seen_other = True
        if not message.content.strip() and message.role != "assistant":
            v.add(f"{field}.content", "must not be empty")
        if len(message.content) > settings.max_message_chars:
            v.add(f"{field}.content", f"at most {settings.max_message_chars} characters")
        total += len(message.content)
    if total > settings.max_total_chars:
        v.add("messages", f"at most {settings.max_total_chars} characters in all")
    if messages and messages[-1].role != "user":
        v.add(f"messages[{len(messages) - 1}].role", "the last message must be the user's")
    _sampling(
        v,
        temperature=request.temperature if request.HasField("temperature") else None,
        top_p=request.top_p if request.HasField("top_p") else None,
        max_tokens=request.max_tokens,
    )
    if len(request.stop) > settings.max_stop_sequences:
        v.add("stop", f"at most {settings.max_stop_sequences} sequences")
    for i, stop in enumerate(request.stop):
        if not stop or len(stop) > MAX_STOP_CHARS:
            v.add(f"stop[{i}]", f"must have 1 to {MAX_STOP_CHARS} characters")
    v.raise_if_any()


def validate_ask(
    request: edge_pb2.AskRequest | edge_pb2.AskStreamRequest, settings: EdgeSettings
) -> None:
    v = Violations()
    if not request.question.strip():
        v.add("question", "must not be empty")
    if len(request.question) > settings.max_question_chars:
        v.add("question", f"at most {settings.max_question_chars} characters")
    if not 0 <= request.top_k <= 20:
        v.add("top_k", "must be between 1 and 20 (0 means the default)")
    _sampling(
        v,
        temperature=request.temperature if request.HasField("temperature") else None,
        max_tokens=request.max_tokens,
    )
    _filter(v, "filter", request.filter, settings)
    v.raise_if_any()


def validate_ingest(request: edge_pb2.IngestDocumentsRequest, settings: EdgeSettings) -> None:
    v = Violations()
    documents = request.documents
    if not documents:
        v.add("documents", "must have at least one document")
    if len(documents) > settings.max_ingest_batch:
        v.add("documents", f"at most {settings.max_ingest_batch} documents per call")
    seen: set[str] = set()
    for i, doc in enumerate(documents[: settings.max_ingest_batch]):
        field = f"documents[{i}]"
        if not doc.id or len(doc.id) > settings.max_document_id_chars:
            v.add(f"{field}.id", f"must have 1 to {settings.max_document_id_chars} characters")
        elif not doc.id.isprintable():
            v.add(f"{field}.id", "must be printable text")
        elif doc.id in seen:
            v.add(f"{field}.id", "duplicate id in this request")
        seen.add(doc.id)
        if not doc.text.strip():
            v.add(f"{field}.text", "must not be empty")
        if len(doc.text) > settings.max_document_chars:
            v.add(f"{field}.text", f"at most {settings.max_document_chars} characters")
        if len(doc.title) > MAX_TITLE_CHARS:
            v.add(f"{field}.title", f"at most {MAX_TITLE_CHARS} characters")
        if len(doc.metadata) > MAX_METADATA_ENTRIES:
            v.add(f"{field}.metadata", f"at most {MAX_METADATA_ENTRIES} entries")
        for key, value in doc.metadata.items():
            if not key or len(key) > MAX_METADATA_CHARS or len(value) > MAX_METADATA_CHARS:
                v.add(
                    f"{field}.metadata[{key[:40]}]",
                    f"keys and values must have at most {MAX_METADATA_CHARS} characters",
                )
    v.raise_if_any()


def validate_delete(request: edge_pb2.DeleteDocumentsRequest, settings: EdgeSettings) -> None:
    v = Violations()
    if not request.document_ids:
        v.add("document_ids", "must name at least one document")
    if len(request.document_ids) > settings.max_delete_ids:
        v.add("document_ids", f"at most {settings.max_delete_ids} ids per call")
    for i, doc_id in enumerate(request.document_ids[: settings.max_delete_ids]):
        if not doc_id or len(doc_id) > settings.max_document_id_chars:
            v.add(
                f"document_ids[{i}]", f"must have 1 to {settings.max_document_id_chars} characters"
            )
    v.raise_if_any()


def validate_search(request: edge_pb2.SearchRequest, settings: EdgeSettings) -> None:
    v = Violations()
    if not request.query.strip():
        v.add("query", "must not be empty")
    if len(request.query) > settings.max_question_chars:
        v.add("query", f"at most {settings.max_question_chars} characters")
    if not 0 <= request.top_k <= 100:
        v.add("top_k", "must be between 1 and 100 (0 means 5)")
    if request.HasField("score_threshold") and not math.isfinite(request.score_threshold):
        v.add("score_threshold", "must be a finite number")
    _filter(v, "filter", request.filter, settings)
    v.raise_if_any()


def check_model_limits(model: ModelInfo, max_tokens: int, prompt_tokens: int) -> int:
    """The max_tokens to request: the asked value checked against the model's
    output limit and what the context window leaves after the prompt."""
    room = model.context_window - prompt_tokens
    if room <= 0:
        raise PromptTooLong(
            "messages",
            f"the prompt (about {prompt_tokens} tokens) does not fit the context window of "
            f"{model.name} ({model.context_window} tokens)",
        )
    limit = min(model.max_output_tokens, room) if model.max_output_tokens > 0 else room
    if max_tokens > (model.max_output_tokens or max_tokens):
        raise InvalidArgument(
            "max_tokens", f"at most {model.max_output_tokens} for {model.name} (its output limit)"
        )
    if max_tokens > room:
        raise PromptTooLong(
            "max_tokens",
            f"the prompt (about {prompt_tokens} tokens) leaves room for {room} output tokens in "
            f"the context window of {model.name}",
        )
    return max_tokens or limit
