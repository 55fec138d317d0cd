"""A byte-level BPE vocabulary of an exact size, for stand-in models.

Why byte-level BPE (gpt2-style) and not a random SentencePiece vocabulary: the HF tokenizer that
aiperf builds from the GGUF metadata (tokenizer.py) and llama-server's own tokenizer must count the
same prompt the same way. A random SentencePiece vocabulary did not (512 vs 1590 tokens, see
measured-facts). A byte-level BPE with explicit merges and llama.cpp's `gpt-2` pre-tokenizer is
implemented identically on both sides (GPT-2 split regex, no `ignore_merges`).

Layout (ids): 3 control tokens (<|endoftext|>, <|im_start|>, <|im_end|>), the 256 byte tokens, the
merges learned by the `tokenizers` BPE trainer from a fixed text (llama.cpp's own Markdown docs,
sorted by path, from the pinned sdist), then unreachable padding tokens up to the exact vocabulary
size of the real model (so token_embd/output have the real shapes).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..paths import cache_dir

VOCAB_VERSION = 1
PRE_TOKENIZER = "gpt-2"  # llama.cpp: LLAMA_VOCAB_PRE_TYPE_GPT2; transformers: GPT2Tokenizer's default
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3
PAD_FORMAT = "<|synthetic_pad_{}|>"

# ChatML. Rendered the same by transformers' jinja and llama-server's (--jinja).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class Vocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    corpus_sha: str

    @property
    def bos_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return SPECIALS.index("<|im_end|>")


def corpus_files(src: Path | None = None) -> list[Path]:
    if src is None:
        from ..toolchain.llamacpp import fetch_source, source_dir

        src = source_dir()
        if not (src / "CMakeLists.txt").exists():
            src = fetch_source()
    files = [p for p in Path(src).rglob("*.md") if "build" not in p.relative_to(src).parts[0]]
    return sorted(files, key=lambda p: p.relative_to(src).as_posix())


def corpus_text(src: Path | None = None) -> tuple[list[str], str]:
    lines: list[str] = []
    h = hashlib.sha256()
    for path in corpus_files(src):
        data = path.read_bytes()
        h.update(data)
        lines.extend(data.decode("utf-8", errors="replace").splitlines(keepends=True))
    return lines, h.hexdigest()


def train(vocab_size: int, lines: list[str], corpus_sha: str) -> Vocab:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    n_learned = vocab_size - len(SPECIALS)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=n_learned, min_frequency=2, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )
    tok.train_from_iterator(lines, trainer)
    model = json.loads(tok.to_str())["model"]
    learned = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    tokens = list(SPECIALS) + [t for t, _ in learned]
    seen = set(tokens)
    i = 0
    while len(tokens) < vocab_size:
        pad = PAD_FORMAT.format(i)
        i += 1
        if pad not in seen:
            tokens.append(pad)
    tokens = tokens[:vocab_size]
    types = [TOKEN_CONTROL] * len(SPECIALS) + [TOKEN_NORMAL] * (vocab_size - len(SPECIALS))
    if len(tokens) != vocab_size or len(set(tokens)) != vocab_size:
        raise RuntimeError("synthetic vocabulary: duplicate or missing tokens")
    if len(learned) > n_learned:
        raise RuntimeError(f"BPE trainer returned {len(learned)} tokens for {n_learned} asked")
    return Vocab(tokens, types, merges, corpus_sha)


def build_vocab(vocab_size: int, src: Path | None = None) -> Vocab:
    """Cached as JSON under the joulebench cache, keyed on size + corpus + version."""
    lines, corpus_sha = corpus_text(src)
    key = hashlib.sha256(f"{VOCAB_VERSION}:{vocab_size}:{corpus_sha}".encode()).hexdigest()[:12]
    path = cache_dir() / "models" / "synthetic" / f"vocab-bpe-{vocab_size}-{key}.json"
    if path.exists():
        d = json.loads(path.read_text())
        return Vocab(d["tokens"], d["token_types"], d["merges"], d["corpus_sha"])
    vocab = train(vocab_size, lines, corpus_sha)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"tokens": vocab.tokens, "token_types": vocab.token_types,
                               "merges": vocab.merges, "corpus_sha": vocab.corpus_sha}))
    os.replace(tmp, path)
    return vocab
