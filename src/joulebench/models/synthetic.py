"""Shape-equivalent stand-ins: random-weight GGUFs with a real model's exact architecture.

`build_synthetic("llama3.2-1b", "Q4_K_M")` writes an F16 GGUF with gguf-py (the architecture, every
tensor name and shape, vocabulary size, RoPE and norm settings of the real model, see presets.py),
quantises it with llama.cpp's own `llama-quantize` (so the per-tensor quant mix is the one a real
Q4_K_M file gets) and returns the path. Weights are N(0, 0.02) (norm weights 1), so activations stay
finite; outputs are gibberish, but the work per token -- and so speed and energy -- is the real
model's. The tokenizer is a byte-level BPE of the real vocabulary size (synthetic_vocab.py), on which
llama-server and the HF tokenizer aiperf builds agree.

Cached by content under `cache_dir()/models/synthetic/`: the key hashes the preset definition, the
quant, the llama.cpp build (llama-quantize --version), the tokenizer corpus and GENERATOR_VERSION.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import JoulebenchError
from ..paths import cache_dir
from .gguf_file import check_gguf
from .presets import Preset, get_preset

GENERATOR_VERSION = 1
WEIGHT_STD = 0.02
# Quant types a file can be left in without llama-quantize.
_UNQUANTISED = {"F16"}

# (name, numpy shape (= reversed ggml ne), kind); kind: weight | norm | bias | conv | rope_freqs
TensorSpec = tuple[str, tuple[int, ...], str]


def tensor_plan(p: Preset) -> list[TensorSpec]:
    """Every tensor llama.cpp's loader wants for this architecture, in convert_hf_to_gguf order."""
    e, hd = p.n_embd, p.head_dim
    q, kv = p.n_head * hd, p.n_head_kv * hd
    plan: list[TensorSpec] = [("token_embd.weight", (p.n_vocab, e), "weight")]
    if p.rope_scaling:
        plan.append(("rope_freqs.weight", (hd // 2,), "rope_freqs"))
    for i in range(p.n_layer):
        b = f"blk.{i}."
        plan.append((b + "attn_norm.weight", (e,), "norm"))
        if p.is_attention(i):
            plan += [
                (b + "attn_q.weight", (q, e), "weight"),
                (b + "attn_k.weight", (kv, e), "weight"),
                (b + "attn_v.weight", (kv, e), "weight"),
            ]
            if p.qkv_bias:
                plan += [(b + "attn_q.bias", (q,), "bias"), (b + "attn_k.bias", (kv,), "bias"),
                         (b + "attn_v.bias", (kv,), "bias")]
            if p.qk_norm:
                plan += [(b + "attn_q_norm.weight", (hd,), "norm"), (b + "attn_k_norm.weight", (hd,), "norm")]
            plan.append((b + "attn_output.weight", (e, q), "weight"))
        else:  # lfm2 short-convolution block
            plan += [
                (b + "shortconv.conv.weight", (e, p.conv_l_cache), "conv"),
                (b + "shortconv.in_proj.weight", (3 * e, e), "weight"),
                (b + "shortconv.out_proj.weight", (e, e), "weight"),
            ]
        if p.arch == "gemma3":
            plan.append((b + "post_attention_norm.weight", (e,), "norm"))
        plan += [
            (b + "ffn_norm.weight", (e,), "norm"),
            (b + "ffn_gate.weight", (p.n_ff, e), "weight"),
            (b + "ffn_up.weight", (p.n_ff, e), "weight"),
            (b + "ffn_down.weight", (e, p.n_ff), "weight"),
        ]
        if p.arch == "gemma3":
            plan.append((b + "post_ffw_norm.weight", (e,), "norm"))
    # llama.cpp names LFM2's final norm token_embd_norm (a historical mix-up it keeps).
    plan.append(("token_embd_norm.weight" if p.arch == "lfm2" else "output_norm.weight", (e,), "norm"))
    if not p.tied_embeddings:
        plan.append(("output.weight", (p.n_vocab, e), "weight"))
    return plan


def llama3_rope_factors(p: Preset) -> np.ndarray:
    """Same as convert_hf_to_gguf's LlamaModel.generate_extra_tensors (rope_type llama3)."""
    s = p.rope_scaling
    factor, low, high = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
    old_ctx = s["original_max_position_embeddings"]
    freqs = 1.0 / (p.rope_theta ** (np.arange(0, p.head_dim, 2, dtype=np.float64) / p.head_dim))
    low_wl, high_wl = old_ctx / low, old_ctx / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old_ctx / wl - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)


def _seed(preset: str, tensor: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{preset}/{tensor}".encode()).digest()[:8], "little")


def _tensor_data(p: Preset, name: str, shape: tuple[int, ...], kind: str) -> np.ndarray:
    if kind == "norm":
        return np.ones(shape, dtype=np.float32)
    if kind == "rope_freqs":
        return llama3_rope_factors(p)
    rng = np.random.default_rng(_seed(p.name, name))
    if kind == "bias":
        return (rng.standard_normal(shape, dtype=np.float32) * WEIGHT_STD).astype(np.float32)
    if kind == "conv":  # 3 taps: keep the conv output of the same order as its input
        return (rng.standard_normal(shape, dtype=np.float32) * (1.0 / math.sqrt(shape[-1]))).astype(np.float32)
    data = rng.standard_normal(shape, dtype=np.float32)
    data *= WEIGHT_STD
    return data.astype(np.float16)


def _metadata(w, p: Preset, vocab, key: str, chat_template: str) -> None:
    a = p.arch
    w.add_string("general.type", "model")
    w.add_string("general.name", f"synthetic {p.name}")
    w.add_string("general.description",
                 f"joulebench shape-equivalent stand-in for {p.hf_repo}: random weights, gibberish output")
    w.add_uint32("general.file_type", 1)  # MOSTLY_F16 before llama-quantize
    w.add_uint32("general.quantization_version", 2)
    w.add_uint32(f"{a}.context_length", p.n_ctx_train)
    w.add_uint32(f"{a}.embedding_length", p.n_embd)
    w.add_uint32(f"{a}.block_count", p.n_layer)
    w.add_uint32(f"{a}.feed_forward_length", p.n_ff)
    w.add_uint32(f"{a}.attention.head_count", p.n_head)
    kv = p.head_count_kv()
    if isinstance(kv, list):
        w.add_array(f"{a}.attention.head_count_kv", kv)
    else:
        w.add_uint32(f"{a}.attention.head_count_kv", kv)
    w.add_uint32(f"{a}.attention.key_length", p.head_dim)
    w.add_uint32(f"{a}.attention.value_length", p.head_dim)
    w.add_float32(f"{a}.rope.freq_base", p.rope_theta)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", p.norm_eps)
    w.add_uint32(f"{a}.vocab_size", p.n_vocab)
    if a in ("llama", "qwen2", "qwen3"):
        w.add_uint32(f"{a}.rope.dimension_count", p.head_dim)
    if p.sliding_window:
        w.add_uint32(f"{a}.attention.sliding_window", p.sliding_window)
    if p.conv_l_cache:
        w.add_uint32(f"{a}.shortconv.l_cache", p.conv_l_cache)
    # Tokenizer: byte-level BPE of the real vocabulary size (synthetic_vocab.py).
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "gpt-2")
    w.add_array("tokenizer.ggml.tokens", vocab.tokens)
    w.add_array("tokenizer.ggml.token_type", vocab.token_types)
    w.add_array("tokenizer.ggml.merges", vocab.merges)
    w.add_uint32("tokenizer.ggml.bos_token_id", vocab.bos_id)
    w.add_uint32("tokenizer.ggml.eos_token_id", vocab.eos_id)
    w.add_uint32("tokenizer.ggml.padding_token_id", vocab.bos_id)
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_bool("tokenizer.ggml.add_eos_token", False)
    w.add_string("tokenizer.chat_template", chat_template)
    w.add_string("joulebench.synthetic.preset", p.name)
    w.add_string("joulebench.synthetic.key", key)


def write_f16(p: Preset, path: Path, vocab, key: str, chat_template: str) -> None:
    """Streams tensor by tensor (peak memory: the largest tensor, ~1.2 GB for a 262k x 1152 embedding)."""
    from gguf import GGUFWriter

    plan = tensor_plan(p)
    w = GGUFWriter(str(path), p.arch)
    _metadata(w, p, vocab, key, chat_template)
    for name, shape, kind in plan:
        dtype = np.float16 if kind == "weight" else np.float32
        n = int(np.prod(shape))
        w.add_tensor_info(name, shape, np.dtype(dtype), n * np.dtype(dtype).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape, kind in plan:
        w.write_tensor_data(_tensor_data(p, name, shape, kind))
    w.close()


def llamacpp_identity(quantize: Path) -> dict:
    from ..toolchain.llamacpp import binary_version

    v = binary_version(quantize)
    return {"build": v["build"], "commit": v["commit"], "built_with": v["built_with"]}


def cache_key(p: Preset, quant: str, llamacpp: dict, corpus_sha: str) -> str:
    blob = json.dumps({"generator": GENERATOR_VERSION, "preset": p.definition(), "quant": quant,
                       "llama.cpp": llamacpp, "tokenizer_corpus": corpus_sha}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def find_quantize() -> Path:
    """llama-quantize: config-free lookup as find_binary, but any existing build of the pinned source
    (e.g. a CUDA build in build-<hash>/) is used before building a CPU one; quantising is CPU work."""
    from ..toolchain.llamacpp import find_binary, source_dir

    try:
        return find_binary("llama-quantize", allow_build=False)
    except JoulebenchError:
        pass
    src = source_dir()
    found = sorted(src.glob("build*/bin/llama-quantize")) if src.exists() else []
    if found:
        return found[0]
    return find_binary("llama-quantize")


def synthetic_dir() -> Path:
    return cache_dir() / "models" / "synthetic"


def build_synthetic(preset: str, quant: str, *, threads: int | None = None, log=sys.stderr) -> Path:
    """Path of the stand-in GGUF for `preset` at `quant`, built once (seconds to a minute)."""
    from .synthetic_vocab import CHAT_TEMPLATE, build_vocab, corpus_text

    p = get_preset(preset)
    quant = str(quant).upper()
    quantize = find_quantize()
    ident = llamacpp_identity(quantize)
    _lines, corpus_sha = corpus_text()
    key = cache_key(p, quant, ident, corpus_sha)
    out = synthetic_dir() / f"{p.name}-{quant}-{key[:12]}.gguf"
    if out.exists():
        return check_gguf(out)

    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    vocab = build_vocab(p.n_vocab)
    f16 = out.with_name(f".{out.stem}.f16.tmp{os.getpid()}")
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}")
    try:
        print(f"joulebench: writing synthetic {p.name} ({p.arch}) F16 weights", file=log)
        write_f16(p, f16, vocab, key, CHAT_TEMPLATE)
        t1 = time.monotonic()
        if quant in _UNQUANTISED:
            os.replace(f16, tmp)
            q_log = ""
        else:
            cmd = [str(quantize), str(f16), str(tmp), quant, str(threads or os.cpu_count() or 2)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            q_log = res.stdout + res.stderr
            if res.returncode != 0 or not tmp.exists():
                raise JoulebenchError(
                    f"llama-quantize failed for synthetic {p.name} {quant} (rc {res.returncode}):\n"
                    + q_log[-3000:]
                )
        t2 = time.monotonic()
        os.replace(tmp, out)
    finally:
        for f in (f16, tmp):
            try:
                f.unlink()
            except FileNotFoundError:
                pass
    info = {
        "preset": p.definition(), "quant": quant, "key": key, "llama.cpp": ident,
        "tokenizer_corpus_sha256": corpus_sha, "generator_version": GENERATOR_VERSION,
        "bytes": out.stat().st_size, "write_f16_s": round(t1 - t0, 1), "quantize_s": round(t2 - t1, 1),
        "published_gguf_mb": p.published_gguf_mb, "published_gguf": p.published_gguf,
    }
    out.with_name(out.name + ".json").write_text(json.dumps(info, indent=1) + "\n")
    return check_gguf(out)


def main(argv=None) -> int:
    import argparse

    from .presets import PRESETS

    ap = argparse.ArgumentParser(description="Build a shape-equivalent random-weight GGUF")
    ap.add_argument("preset", choices=sorted(PRESETS))
    ap.add_argument("--quant", help="default: the preset's quant")
    args = ap.parse_args(argv)
    print(build_synthetic(args.preset, args.quant or PRESETS[args.preset].quant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
