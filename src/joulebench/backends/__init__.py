"""Serving backends. Each turns (backend config, model) into a running OpenAI-compatible endpoint.

- llamacpp.py: llama.cpp's own llama-server, started and reused per (mode, backend, model)
- ollama.py:   `ollama serve` with each GGUF imported through a generated Modelfile
- openai.py:   an already-running OpenAI-compatible server at a URL
"""

from pathlib import Path


def make_backend(name: str, cfg: dict, state_dir: Path, threads: int | None, server_prefix: list[str],
                 concurrency: int = 1):
    """`concurrency`: requests the server must serve at once (the cell's; backends/slots.py)."""
    bcfg = cfg["backends"][name]
    kind = bcfg["kind"]
    if kind == "llamacpp":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend(name, bcfg, state_dir, threads=threads, cpu_prefix=server_prefix,
                               concurrency=concurrency, sweep=cfg["sweep"])
    if kind == "ollama":
        from .ollama import OllamaBackend

        return OllamaBackend(name, bcfg, state_dir, cpu_prefix=server_prefix, concurrency=concurrency)
    if kind == "openai":
        from .openai import OpenAIBackend

        return OpenAIBackend(name, bcfg)
    raise ValueError(f"unknown backend kind {kind!r}")
