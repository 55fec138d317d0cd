"""Preset shapes against the real models' published parameter counts, and the cache key (no binaries)."""
import numpy as np
import pytest

from joulebench.errors import JoulebenchError
from joulebench.models import synthetic
from joulebench.models.presets import PRESETS, SEED_PRESETS, get_preset

# Parameter counts as published (model cards / safetensors metadata); tied embeddings counted once.
PUBLISHED_PARAMS = {
    "smollm2-135m": (134_515_008, 1e-4),
    "smollm2-360m": (361_821_120, 1e-4),
    "qwen2.5-0.5b": (494_032_768, 1e-4),
    "qwen3-0.6b": (596_049_920, 1e-4),
    "llama3.2-1b": (1_235_814_400, 1e-4),
    "gemma3-1b": (999_885_952, 1e-4),
    "gemma3-270m": (268_098_176, 1e-4),
    "lfm2.5-1.2b": (1_170_000_000, 0.01),  # model card: "1.17B"
    "lfm2.5-350m": (354_000_000, 0.01),  # model card: ~350M
}

SEED_QUANTS = {"smollm2-135m": "Q4_K_M", "smollm2-360m": "Q8_0", "qwen2.5-0.5b": "Q4_K_M",
               "lfm2.5-350m": "Q4_K_M", "lfm2.5-1.2b": "Q4_K_M", "qwen3-0.6b": "Q8_0",
               "llama3.2-1b": "Q4_K_M", "gemma3-1b": "Q4_K_M"}


def test_seed_presets_exist_with_their_quant():
    assert set(SEED_PRESETS) == set(SEED_QUANTS)
    for name, quant in SEED_QUANTS.items():
        assert PRESETS[name].quant == quant
    assert "gemma3-270m" in PRESETS


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_the_real_model(name):
    expected, rel = PUBLISHED_PARAMS[name]
    got = PRESETS[name].n_params()
    got -= sum(int(np.prod(s)) for n, s, k in synthetic.tensor_plan(PRESETS[name]) if k == "rope_freqs")
    assert abs(got - expected) <= rel * expected, (name, got, expected)


def test_lfm2_layer_pattern():
    p = get_preset("lfm2.5-1.2b")
    kv = p.head_count_kv()
    assert kv == [0, 0, 8, 0, 0, 8, 0, 0, 8, 0, 8, 0, 8, 0, 8, 0]
    names = [n for n, _s, _k in synthetic.tensor_plan(p)]
    assert "blk.0.shortconv.in_proj.weight" in names and "blk.0.attn_q.weight" not in names
    assert "blk.2.attn_q.weight" in names and "blk.2.shortconv.conv.weight" not in names
    assert "token_embd_norm.weight" in names and "output_norm.weight" not in names


def test_arch_specific_tensors():
    names = lambda p: {n for n, _s, _k in synthetic.tensor_plan(get_preset(p))}  # noqa: E731
    assert "blk.0.attn_q.bias" in names("qwen2.5-0.5b")
    assert "blk.0.attn_q_norm.weight" in names("qwen3-0.6b")
    assert "blk.0.post_ffw_norm.weight" in names("gemma3-1b")
    assert "rope_freqs.weight" in names("llama3.2-1b")
    assert "output.weight" not in names("llama3.2-1b")  # tied


def test_llama3_rope_factors():
    f = synthetic.llama3_rope_factors(get_preset("llama3.2-1b"))
    assert f.shape == (32,) and f[0] == 1.0 and f[-1] == 32.0
    assert np.all(np.diff(f) >= 0)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(JoulebenchError, match="unknown synthetic preset"):
        get_preset("llama-9000")


def test_cache_key_depends_on_preset_quant_and_build():
    p = get_preset("smollm2-135m")
    build = {"build": 11434, "commit": "unknown", "built_with": None}
    k = synthetic.cache_key(p, "Q4_K_M", build, "c")
    assert k == synthetic.cache_key(p, "Q4_K_M", dict(build), "c")
    assert k != synthetic.cache_key(p, "Q8_0", build, "c")
    assert k != synthetic.cache_key(p, "Q4_K_M", dict(build, build=11435), "c")
    assert k != synthetic.cache_key(get_preset("smollm2-360m"), "Q4_K_M", build, "c")
    import dataclasses
    assert k != synthetic.cache_key(dataclasses.replace(p, n_ff=1537), "Q4_K_M", build, "c")
    # the published size is documentation, not part of the file
    assert k == synthetic.cache_key(dataclasses.replace(p, published_gguf_mb=1.0), "Q4_K_M", build, "c")
