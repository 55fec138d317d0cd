"""Checks and facts about a GGUF file, without loading tensors."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

from ..errors import JoulebenchError

GGUF_MAGIC = b"GGUF"


def check_gguf(path: str | os.PathLike, complete: bool = False) -> Path:
    """The path, if it is a GGUF file; with `complete`, also every tensor's bytes present (a
    truncated download or copy fails here, naming the file, instead of inside llama-server)."""
    path = Path(path)
    if not path.is_file():
        raise JoulebenchError(f"{path}: GGUF file not found" + (" (it is a folder)" if path.is_dir() else ""))
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != GGUF_MAGIC:
        raise JoulebenchError(f"{path}: not a GGUF file (magic bytes {magic!r}, expected {GGUF_MAGIC!r})")
    if complete:
        _check_tensor_data(path)
    return path


def _check_tensor_data(path: Path) -> None:
    """Walk the header (metadata, tensor table) and compare the end of the last tensor's data with
    the file size. Damage inside the tensor bytes is llama-server's to find (it has no checksum)."""
    import struct

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    size = path.stat().st_size
    try:
        meta, pos, n_tensors = _read_header(path, want=("general.alignment",))
        if pos > size:
            raise struct.error("metadata runs past the end")
        with open(path, "rb") as fh:
            fh.seek(pos)
            table = fh.read(min(size - pos, 64 << 20))
        end, at = 0, 0
        for _ in range(n_tensors):
            (n,) = struct.unpack_from("<Q", table, at)
            name = table[at + 8:at + 8 + n].decode("utf-8", errors="replace")
            at += 8 + n
            (n_dims,) = struct.unpack_from("<I", table, at)
            dims = struct.unpack_from(f"<{n_dims}Q", table, at + 4)
            ttype, offset = struct.unpack_from("<IQ", table, at + 4 + 8 * n_dims)
            at += 4 + 8 * n_dims + 12
            try:
                block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
            except (ValueError, KeyError):
                raise JoulebenchError(f"{path}: tensor {name!r} has unknown type {ttype} (damaged header, "
                                      "or a type newer than this gguf package)") from None
            count = 1
            for d in dims:
                count *= d
            end = max(end, offset + count // block * type_size)
    except struct.error:
        raise JoulebenchError(f"{path}: truncated or damaged GGUF header ({size} bytes): re-download or "
                              "re-copy the file") from None
    align = int(meta.get("general.alignment", 32))
    data_start = -(-(pos + at) // align) * align
    if data_start + end > size:
        raise JoulebenchError(
            f"{path}: truncated GGUF: {size} bytes, its {n_tensors} tensors need {data_start + end} "
            f"({data_start + end - size} missing); re-download or re-copy the file")


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
    meta, _, _ = _read_header(check_gguf(path), want=arrays)
    return meta


def _read_header(path: Path, want: Iterable[str] | None) -> tuple[dict, int, int]:
    """(metadata, byte offset of the tensor table, number of tensors)."""
    import mmap
    import struct

    want = None if want is None else set(want)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        try:
            return _walk_metadata(path, mm, want)
        except struct.error:
            raise JoulebenchError(f"{path}: truncated or damaged GGUF header ({len(mm)} bytes): "
                                  "re-download or re-copy the file") from None


def _walk_metadata(path: Path, mm, want: set | None) -> tuple[dict, int, int]:
    import struct

    pos = 4
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", mm, pos)
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
            if itype == _STRING and not keep:  # a vocabulary: skip 262k strings in a tight loop
                unpack = struct.Struct("<Q").unpack_from
                for _ in range(count):
                    pos += 8 + unpack(mm, pos)[0]
                return count, pos
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
    return meta, pos, n_tensors
