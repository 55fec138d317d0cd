"""Checks and facts about a GGUF file, without loading tensors."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import JoulebenchError

GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise JoulebenchError(f"{path}: GGUF file not found")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise JoulebenchError(f"{path}: not a GGUF file (magic bytes {magic!r}, expected {GGUF_MAGIC!r})")
    return path


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of the file, cached beside it keyed on (size, mtime) so a 1 GB GGUF is hashed once."""
    path = Path(path)
    st = path.stat()
    memo = path.with_name(path.name + ".sha256.json")
    key = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    try:
        data = json.loads(memo.read_text())
        if data.get("key") == key:
            return data["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    digest = h.hexdigest()
    try:
        memo.write_text(json.dumps({"key": key, "sha256": digest}))
    except OSError:
        pass  # read-only model dir: hash again next time
    return digest


def read_metadata(path: str | os.PathLike) -> dict:
    """All metadata key/values (arrays as lists) through gguf-py's reader."""
    from gguf import GGUFReader

    reader = GGUFReader(str(check_gguf(path)))
    meta = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        try:
            meta[name] = field.contents()
        except Exception:  # unusual types: keep going, the tokenizer needs only a few keys
            continue
    return meta
