"""Building stand-ins with gguf-py + llama-quantize (needs the llama.cpp build in the joulebench cache)."""
import time

import pytest

from joulebench.toolchain.llamacpp import find_binary
from joulebench.errors import JoulebenchError
from joulebench.models.gguf_file import read_metadata
from joulebench.models.presets import PRESETS, SEED_PRESETS
from joulebench.models.sources import resolve_gguf
from joulebench.models.synthetic import build_synthetic

try:  # llama-quantize is added to a llama-server build the first time it is needed
    find_binary("llama-server", allow_build=False)
except JoulebenchError:
    pytest.skip("llama.cpp not built (joulebench build-llama)", allow_module_level=True)



def _tensors(path):
    from gguf import GGUFReader

    return {t.name: (t.tensor_type.name, tuple(int(s) for s in t.shape), int(t.n_bytes))
            for t in GGUFReader(str(path)).tensors}


def test_smollm2_135m_through_the_config_source():
    path = resolve_gguf("s", {"quant": "Q4_K_M", "source": {"synthetic": "smollm2-135m"}})
    meta = read_metadata(path)
    assert meta["general.architecture"] == "llama"
    assert meta["llama.block_count"] == 30 and meta["llama.embedding_length"] == 576
    assert len(meta["tokenizer.ggml.tokens"]) == 49152
    assert meta["general.file_type"] == 15  # MOSTLY_Q4_K_M
    assert meta["tokenizer.ggml.model"] == "gpt2" and "chat_template" in "".join(k for k in meta)
    t = _tensors(path)
    assert t["token_embd.weight"][1] == (576, 49152)  # ggml order: ne0 = n_embd
    assert "output.weight" not in t  # tied, like the real model
    # within 2 % of the real file (bartowski Q4_K_M, 105.5 MB)
    assert abs(path.stat().st_size / 1e6 / PRESETS["smollm2-135m"].published_gguf_mb - 1) < 0.02


def test_cached_by_content():
    a = build_synthetic("smollm2-135m", "Q4_K_M")
    mtime = a.stat().st_mtime_ns
    t0 = time.monotonic()
    b = build_synthetic("smollm2-135m", "q4_k_m")
    assert a == b and b.stat().st_mtime_ns == mtime and time.monotonic() - t0 < 10
    c = build_synthetic("smollm2-135m", "Q8_0")
    assert c != a and read_metadata(c)["general.file_type"] == 7


def test_gemma3_270m_has_the_real_files_tensors(default_gguf):
    """Same tensor names, quant types, shapes and bytes as the published Q4_K_M file."""
    synth = _tensors(build_synthetic("gemma3-270m", "Q4_K_M"))
    real = _tensors(default_gguf)
    assert synth == real


@pytest.mark.slow
@pytest.mark.parametrize("name", SEED_PRESETS)
def test_every_seed_preset_builds_near_the_published_size(name):
    p = PRESETS[name]
    path = build_synthetic(name, p.quant)
    meta = read_metadata(path)
    assert meta["general.architecture"] == p.arch
    assert len(meta["tokenizer.ggml.tokens"]) == p.n_vocab
    assert abs(path.stat().st_size / 1e6 / p.published_gguf_mb - 1) < 0.05, path.stat().st_size
