"""A configured model made ready to serve: its GGUF, chat template and tokenizer, fingerprinted.

In two parts, so that a capture can start the server (which needs the files) while the tokenizer
is built (~10 s the first time for gemma3's 262k vocabulary; cached after)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..backends.base import ModelInfo
from ..models.gguf_file import read_metadata, sha256
from ..models.sources import resolve_gguf, resolve_tokenizer
from ..models.templates import resolve_template
from ..models.tokenizer import build_tokenizer


def prepare_model(cfg: dict, name: str, config_dir: Path) -> ModelInfo:
    return with_tokenizer(cfg, model_files(cfg, name, config_dir), config_dir)


def model_files(cfg: dict, name: str, config_dir: Path) -> ModelInfo:
    """The GGUF and chat template, fingerprinted: what a server needs (no tokenizer yet: tokenizer_id "")."""
    from ..toolchain.llamacpp import source_dir

    mcfg = cfg["models"][name]
    gguf = resolve_gguf(name, mcfg, config_dir)
    meta = read_metadata(gguf, arrays=())  # scalars only: milliseconds
    src = source_dir()
    template = resolve_template(name, mcfg["chat_template"], src if src.exists() else None, meta,
                                config_dir, gguf)
    return ModelInfo(
        name=name, quant=mcfg["quant"], gguf=gguf, sha256=sha256(gguf), size_bytes=gguf.stat().st_size,
        family=mcfg.get("family"), chat_template=template, tokenizer_id="", hf_home=None,
        params_m=mcfg.get("params_m"),
    )


def with_tokenizer(cfg: dict, model: ModelInfo, config_dir: Path) -> ModelInfo:
    """The model with its tokenizer: built from the GGUF (cached by its hash) or the configured one."""
    tok = cfg["models"][model.name]["tokenizer"]
    if tok == "gguf":
        tok_id, hf_home = build_tokenizer(model.name, model.gguf, model.chat_template)
    else:
        tok_id, hf_home = str(resolve_tokenizer(model.name, tok, config_dir)), None
    return dataclasses.replace(model, tokenizer_id=tok_id, hf_home=hf_home)
