import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from joulebench.config import Cell
from joulebench.errors import JoulebenchError
from joulebench.models.gguf_file import check_gguf, read_metadata
from joulebench.workflow import missing_cells_table


def _gguf(path, kvs):
    """A minimal GGUF v3 header with the given (key, type, value) entries and no tensors."""
    out = bytearray(b"GGUF") + struct.pack("<IQQ", 3, 0, len(kvs))

    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    for key, vtype, value in kvs:
        out += s(key) + struct.pack("<I", vtype)
        if vtype == 8:
            out += s(value)
        elif vtype == 4:
            out += struct.pack("<I", value)
        elif vtype == 9:
            out += struct.pack("<IQ", 8, len(value)) + b"".join(s(v) for v in value)
    path.write_bytes(bytes(out))
    return path


def test_reader_scalars_and_selected_arrays(tmp_path):
    p = _gguf(tmp_path / "m.gguf", [
        ("general.architecture", 8, "llama"),
        ("llama.block_count", 4, 30),
        ("tokenizer.ggml.tokens", 9, ["<s>", "a", "b"]),
    ])
    meta = read_metadata(p, arrays=())
    assert meta == {"general.architecture": "llama", "llama.block_count": 30, "tokenizer.ggml.tokens": 3}
    assert read_metadata(p)["tokenizer.ggml.tokens"] == ["<s>", "a", "b"]


def test_bad_magic_and_missing_file(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + bytes(20))
    with pytest.raises(JoulebenchError, match="not a GGUF file"):
        check_gguf(bad)
    with pytest.raises(JoulebenchError, match="GGUF file not found"):
        check_gguf(tmp_path / "missing.gguf")


def test_missing_cells_table_counts_per_group():
    cells = [Cell("25W", "llamacpp", "m1", c, g) for c in (128, 512) for g in (64, 128)]
    cells += [Cell("25W", "ollama", "m1", 128, 64)]
    done = {cells[0], cells[4]}
    text = missing_cells_table(cells, lambda c: c in done)
    assert "3 of 5 cells not captured yet" in text
    assert "3/4" in text and "512x128" in text
    assert "ollama" not in text
    assert missing_cells_table(cells, lambda c: True).endswith("0 of 5 cells not captured yet")


def test_seed_sweep_dry_run_shows_768_missing_cells(tmp_path):
    """The shipped Jetson example reproduces the seed's sweep: 4 modes x 2 backends x 8 models x
    4 prompts x 3 gens = 768 capture jobs, listed as missing by a plain dry run (no device touched)."""
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(repo / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile",
                          str(repo / "config/jetson-orin-nano-super.yaml")],
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "768 of 768 cells not captured yet" in text, text[-3000:]
    assert re.search(r"^capture\s+768$", text, re.M), text[-3000:]
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("cell.json"))
