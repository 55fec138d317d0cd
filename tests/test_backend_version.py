"""One backend_version column for every backend kind: strings, so llama.cpp and OpenAI / Ollama
cells fit one Parquet column (an int build beside '0.12.6' failed to write; found by
tests/test_integration_two_backends.py)."""
import pandas as pd

from joulebench.metrics.cell_table import provenance_columns


def version_of(backend):
    return provenance_columns({"backend": backend})["backend_version"]


def test_every_kind_gives_a_string_version_or_none(tmp_path):
    rows = {
        "llamacpp now": {"kind": "llamacpp", "version": "b11434", "llama_cpp": {"build": 11434}},
        "llamacpp before the core": {"kind": "llamacpp", "llama_cpp": {"build": 11434, "commit": "abc"}},
        "openai": {"kind": "openai", "version": "b11434-unknown"},
        "ollama": {"kind": "ollama", "version": "0.12.6"},
        "openai silent": {"kind": "openai", "version": None},
        "ollama before the core": {"kind": "ollama", "ollama_version": "0.12.5"},
    }
    got = {k: version_of(b) for k, b in rows.items()}
    assert got == {"llamacpp now": "b11434", "llamacpp before the core": "b11434", "openai": "b11434-unknown",
                   "ollama": "0.12.6", "openai silent": None, "ollama before the core": "0.12.5"}
    pd.DataFrame({"backend_version": list(got.values())}).to_parquet(tmp_path / "v.parquet")
