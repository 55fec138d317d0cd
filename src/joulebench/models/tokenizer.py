"""A Hugging Face tokenizer for aiperf, built from the GGUF's own metadata.

No torch and no network: the vocabulary, merges and special tokens are read with gguf-py and
handed to transformers' GGUF tokenizer builders. The result is stored in a local Hugging Face
cache layout (`hub/models--local--NAME/snapshots/<40 zeros>`) because aiperf then loads it with
HF_HUB_OFFLINE=1 and skips a ~4 s prefetch (measured with aiperf 0.13).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..deps import import_internal
from ..paths import cache_dir
from .gguf_file import read_metadata, sha256

SNAPSHOT = "0" * 40
# The GGUF tokenizer builders below are transformers internals; their layout changed in 5.2x
# (5.17 has no GGUF_TOKENIZER_MAPPING). Tested range; pyproject.toml declares the same.
TRANSFORMERS_RANGE = (">=5.24", "<6")
# Bumped when the saved layout changes, so older snapshots are rebuilt rather than reused.
FORMAT = "2"


def hf_home() -> Path:
    return cache_dir() / "hf"


def tokenizer_repo_id(model: str, gguf_sha: str, template_text: str | None) -> str:
    h = hashlib.sha256((FORMAT + gguf_sha + (template_text or "")).encode()).hexdigest()[:10]
    return f"local/{model}-{h}"


def snapshot_dir(repo_id: str) -> Path:
    org, name = repo_id.split("/")
    return hf_home() / "hub" / f"models--{org}--{name}" / "snapshots" / SNAPSHOT


# Everything read from transformers' GGUF integration module (an internal: not in its public API).
GGUF_INTERNALS = ("GGUF_TOKENIZER_MAPPING", "_SPECIAL_TOKENS", "select_tokenizer_builder",
                  "add_gguf_special_tokens", "set_split_regex")


def gguf_tokenizer_mapping():
    """transformers' GGUF tokenizer module, or a clear error naming the version range it needs."""
    return import_internal("transformers.integrations.gguf.gguf_tokenizer_mapping", GGUF_INTERNALS,
                           "transformers", ",".join(TRANSFORMERS_RANGE), "building the tokenizer from the GGUF",
                           hint=", or set models.<name>.tokenizer to a Hugging Face tokenizer folder")


def _tokenizer_parts(meta: dict) -> tuple[str, dict, dict]:
    """Same grouping as transformers' get_gguf_tokenizer, but from gguf-py metadata (no torch)."""
    m = gguf_tokenizer_mapping()

    grouped = {
        group: {name: meta[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in meta}
        for group, renames in m.GGUF_TOKENIZER_MAPPING.items()
    }
    tokenizer, tokenizer_config = grouped["tokenizer"], grouped["tokenizer_config"]
    if tokenizer.get("tokenizer_type") == "llama":
        tokenizer_config.setdefault("add_bos_token", True)
    for name, key in m._SPECIAL_TOKENS.items():
        token_id = meta.get(f"tokenizer.ggml.{key}")
        tokenizer_config[name] = tokenizer["tokens"][token_id] if token_id is not None else None
    return meta["general.architecture"], tokenizer, tokenizer_config


def model_class_tokenizer(meta: dict):
    """(tokenizer, its config) as transformers' convert_gguf_tokenizer builds it: the model's own class
    (GemmaTokenizer, ...), which sets BOS/EOS handling in the backend tokenizer's post-processor."""
    m = gguf_tokenizer_mapping()

    arch, tok_dict, tok_cfg = _tokenizer_parts(meta)
    built = m.select_tokenizer_builder(arch, tok_dict.get("tokenizer_type"))(tok_dict)
    built = m.add_gguf_special_tokens(built, tok_dict)
    built = m.set_split_regex(built, tok_dict)
    tok_cfg.pop("chat_template", None)
    return type(built)(tokenizer_object=built.backend_tokenizer, **tok_cfg), tok_cfg


def build_tokenizer(model: str, gguf_path: Path, template: Path | None) -> tuple[str, Path]:
    """Returns (repo id for --tokenizer, HF_HOME to export). Cached by GGUF hash + template."""
    template_text = template.read_text() if template else None
    repo_id = tokenizer_repo_id(model, sha256(gguf_path), template_text)
    snap = snapshot_dir(repo_id)
    if (snap / "tokenizer.json").exists():
        if "transformers_version" not in (snap / "config.json").read_text():  # built before it was written
            write_snapshot_config(snap)
        return repo_id, hf_home()

    m = gguf_tokenizer_mapping()
    from transformers import PreTrainedTokenizerFast

    meta = read_metadata(gguf_path)
    model_class, tok_cfg = model_class_tokenizer(meta)
    # Saved as the generic fast class: aiperf loads the tokenizer at every start, and the model
    # classes (GemmaTokenizer, ...) re-parse tokenizer.json in Python first (2.3 s against 1.8 s
    # for gemma3's 262k vocabulary, measured). Same token ids: tests/test_tokenizer_build.py.
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model_class.backend_tokenizer,
                                        **{k: tok_cfg[k] for k in m._SPECIAL_TOKENS if tok_cfg.get(k)})
    chat = template_text or meta.get("tokenizer.chat_template")
    if chat:
        tokenizer.chat_template = chat

    def fill(tmp: Path) -> None:
        tokenizer.save_pretrained(tmp)
        # compact JSON (33 MB -> 14 MB for gemma3) and a class name every transformers version knows
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"), pretty=False)
        tok_config_path = tmp / "tokenizer_config.json"
        saved_cfg = json.loads(tok_config_path.read_text())
        saved_cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        tok_config_path.write_text(json.dumps(saved_cfg, indent=2) + "\n")
        if chat and not (tmp / "chat_template.jinja").exists():
            (tmp / "chat_template.jinja").write_text(chat)

    install_snapshot(repo_id, fill)
    return repo_id, hf_home()


def write_snapshot_config(folder: Path) -> None:
    """AutoTokenizer insists on a config.json; one without a model type makes it use tokenizer_class.
    It names the transformers that wrote it: transformers 5 otherwise takes a local tokenizer of more
    than 100k tokens for one of Mistral's and logs, at every load, that it "will lead to incorrect
    tokenization" (nothing is changed; the token ids are the model class's, test_tokenizer_build)."""
    from importlib.metadata import version

    tmp = folder / f".config.json.{os.getpid()}"
    tmp.write_text(json.dumps({"transformers_version": version("transformers")}) + "\n")
    os.replace(tmp, folder / "config.json")


def install_snapshot(repo_id: str, fill) -> Path:
    """A tokenizer folder written by fill(folder), moved whole into the cache layout (a reader never
    sees half of it)."""
    snap = snapshot_dir(repo_id)
    tmp = snap.with_name(f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    write_snapshot_config(tmp)
    shutil.rmtree(snap, ignore_errors=True)
    os.replace(tmp, snap)
    refs = snap.parent.parent / "refs"
    refs.mkdir(exist_ok=True)
    (refs / "main").write_text(SNAPSHOT)
    return snap
