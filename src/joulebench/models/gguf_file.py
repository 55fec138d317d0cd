"""Checks and facts about a GGUF file, without loading tensors."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

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


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_metadata(path: str | os.PathLike, arrays: Iterable[str] | None = None) -> dict:
    """Metadata key/values straight from the GGUF header (no tensors).

    gguf-py's GGUFReader builds numpy views of every array element: ~7 s for a 262k-token
    vocabulary. Here arrays are decoded only when named in `arrays` (None = all) and skipped
    otherwise, so the per-cell checks cost milliseconds.
    """
    import mmap
    import struct

    path = check_gguf(path)
    want = None if arrays is None else set(arrays)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = 4
        version, _n_tensors, n_kv = struct.unpack_from("<IQQ", mm, pos)
        if version < 2:
            raise JoulebenchError(f"{path}: GGUF version {version} is too old")
        pos += 20

        def read_str(pos):
            (n,) = struct.unpack_from("<Q", mm, pos)
            return mm[pos + 8:pos + 8 + n].decode("utf-8", errors="replace"), pos + 8 + n

        def read_value(vtype, pos, keep):
            if vtype in _SCALARS:
                fmt = _SCALARS[vtype]
                return struct.unpack_from(fmt, mm, pos)[0], pos + struct.calcsize(fmt)
            if vtype == _STRING:
                return read_str(pos)
            if vtype == _ARRAY:
                itype, count = struct.unpack_from("<IQ", mm, pos)
                pos += 12
                if itype in _SCALARS and not keep:
                    return count, pos + count * struct.calcsize(_SCALARS[itype])
                if itype in _SCALARS:
                    fmt = _SCALARS[itype]
                    size = struct.calcsize(fmt)
                    vals = list(struct.unpack_from(f"<{count}{fmt[1]}", mm, pos))
                    return vals, pos + count * size
                items = []
                for _ in range(count):
                    v, pos = read_value(itype, pos, keep)
                    if keep:
                        items.append(v)
                return (items if keep else count), pos
            raise JoulebenchError(f"{path}: unknown GGUF value type {vtype} at byte {pos}")

        meta = {}
        for _ in range(n_kv):
            key, pos = read_str(pos)
            (vtype,) = struct.unpack_from("<I", mm, pos)
            keep = want is None or key in want
            meta[key], pos = read_value(vtype, pos + 4, keep)
    return meta
