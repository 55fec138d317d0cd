"""A configured model made ready to serve: its GGUF, chat template and tokenizer, fingerprinted."""
from __future__ import annotations

from pathlib import Path

from ..backends.base import ModelInfo
from ..models.gguf_file import read_metadata, sha256
from ..models.sources import resolve_gguf, resolve_tokenizer
from ..models.templates import resolve_template
from ..models.tokenizer import build_tokenizer


def prepare_model(cfg: dict, name: str, config_dir: Path) -> ModelInfo:
    from ..toolchain.llamacpp import source_dir

    mcfg = cfg["models"][name]
    gguf = resolve_gguf(name, mcfg, config_dir)
    meta = read_metadata(gguf, arrays=())  # scalars only: milliseconds
    src = source_dir()
    template = resolve_template(name, mcfg["chat_template"], src if src.exists() else None, meta,
                                config_dir, gguf)
    tok = mcfg["tokenizer"]
    if tok == "gguf":
        tok_id, hf_home = build_tokenizer(name, gguf, template)
    else:
        tok_id, hf_home = str(resolve_tokenizer(name, tok, config_dir)), None
    return ModelInfo(
        name=name, quant=mcfg["quant"], gguf=gguf, sha256=sha256(gguf), size_bytes=gguf.stat().st_size,
        family=mcfg.get("family"), chat_template=template, tokenizer_id=tok_id, hf_home=hf_home,
        params_m=mcfg.get("params_m"),
    )
