"""Prompts of an exact token length, as the server will count them (chat template included).

aiperf's synthetic prompts compensate for the chat template approximately; with Gemma's
tokenizer one request in five came out one token long (513 of 512, measured), because tokens
merge across the boundary. So joulebench writes the prompts itself: text from aiperf's own
corpus, trimmed until the *templated* prompt has exactly `ctx` tokens with the same tokenizer
the server uses, and hands them to aiperf as a single-turn dataset. The capture still checks
every request's server-side count.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from functools import lru_cache
from pathlib import Path

from ..errors import CaptureError
from ..paths import cache_dir


def corpus_words() -> list[str]:
    from importlib import resources

    text = (resources.files("aiperf") / "dataset" / "generator" / "assets" / "shakespeare.txt").read_text()
    return text.split()


@lru_cache(maxsize=4)
def load_tokenizer(tokenizer_id: str, hf_home: str | None):
    from transformers import AutoTokenizer

    if hf_home and tokenizer_id.startswith("local/"):
        from ..models.tokenizer import snapshot_dir

        return AutoTokenizer.from_pretrained(str(snapshot_dir(tokenizer_id)))
    return AutoTokenizer.from_pretrained(tokenizer_id)


def templated_len(tok, text: str) -> int:
    ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return len(ids)


def exact_prompt(tok, words: list[str], start: int, ctx: int) -> str | None:
    """Text whose templated length is exactly ctx, starting at word `start`; None if not reachable."""
    overhead = templated_len(tok, "")
    want = ctx - overhead
    if want < 1:
        raise CaptureError(f"prompt length {ctx} is shorter than the chat template itself ({overhead} tokens)")
    chunk = " ".join(words[start:start + want * 2 + 64])
    ids = tok.encode(chunk, add_special_tokens=False)
    n = want
    for _ in range(40):
        text = tok.decode(ids[:n]).strip()
        got = templated_len(tok, text)
        if got == ctx:
            return text
        n += ctx - got
        if n < 1 or n > len(ids):
            return None
    return None


def build_prompts(tokenizer_id: str, hf_home: str | None, ctx: int, count: int, seed: int) -> list[str]:
    # The draw is sequential from `seed`, so the first k prompts are the same for any count >= k:
    # one memo per (tokenizer, ctx, seed) serves every request count up to the longest built.
    key = hashlib.sha256(json.dumps([tokenizer_id, ctx, seed, 2]).encode()).hexdigest()[:16]
    memo = cache_dir() / "prompts" / f"{key}.json"
    if memo.exists():
        cached = json.loads(memo.read_text())
        if len(cached) >= count:
            return cached[:count]
    tok = load_tokenizer(tokenizer_id, hf_home)
    words = corpus_words()
    rng = random.Random(seed)
    prompts: list[str] = []
    attempts = 0
    while len(prompts) < count:
        attempts += 1
        if attempts > count * 20:
            raise CaptureError(f"could not build prompts of exactly {ctx} tokens with {tokenizer_id}")
        start = rng.randrange(0, max(1, len(words) - ctx * 3))
        text = exact_prompt(tok, words, start, ctx)
        if text is not None and text not in prompts:
            prompts.append(text)
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
    tmp.write_text(json.dumps(prompts))
    os.replace(tmp, memo)  # a concurrent reader never sees half a file
    return prompts


def model_prompts(model, ctx: int, count: int, seed: int) -> list[str]:
    """build_prompts with a prepared model's tokenizer (capture/model.py ModelInfo)."""
    return build_prompts(model.tokenizer_id, str(model.hf_home) if model.hf_home else None, ctx, count, seed)


def write_dataset(path: Path, lines: list[tuple[str, int]]) -> Path:
    """aiperf single-turn JSONL: one (prompt, output length) per line, sent in this order."""
    with open(path, "w") as fh:
        for text, gen in lines:
            fh.write(json.dumps({"text": text, "output_length": gen}) + "\n")
    return path


def session_index(conversation_id) -> int | None:
    """The dataset line of a request: aiperf names single-turn sessions session_000000, ... in
    dataset order (sequential sampling)."""
    try:
        return int(str(conversation_id).rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return None
