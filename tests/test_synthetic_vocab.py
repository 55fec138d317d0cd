"""The stand-in tokenizer: exact size, byte-level complete, merges consistent, HF side agrees."""
import pytest

from joulebench.models import synthetic_vocab as sv


@pytest.fixture(scope="module")
def vocab():
    return sv.build_vocab(49152)


def test_exact_size_and_unique(vocab):
    assert len(vocab.tokens) == len(vocab.token_types) == 49152
    assert len(set(vocab.tokens)) == 49152
    assert vocab.tokens[: len(sv.SPECIALS)] == list(sv.SPECIALS)
    assert vocab.token_types[: len(sv.SPECIALS)] == [sv.TOKEN_CONTROL] * len(sv.SPECIALS)
    assert vocab.tokens[vocab.eos_id] == "<|im_end|>"


def test_every_byte_has_a_token(vocab):
    from tokenizers import pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    assert len(alphabet) == 256 and set(alphabet) <= set(vocab.tokens)


def test_merges_are_closed(vocab):
    toks = set(vocab.tokens)
    assert len(vocab.merges) > 5000
    for m in vocab.merges:
        a, b = m.split(" ")
        assert a in toks and b in toks and a + b in toks, m


def test_deterministic(vocab, tmp_path):
    lines, sha = sv.corpus_text()
    again = sv.train(49152, lines, sha)
    assert again.tokens == vocab.tokens and again.merges == vocab.merges


def test_hf_tokenizer_round_trips_text(vocab):
    """The HF side (transformers' GGUF byte-level builder, as tokenizer.py uses it)."""
    from transformers.integrations.gguf import gguf_tokenizer_mapping as m

    d = {"tokenizer_type": "gpt2", "pre_tokenizer_type": sv.PRE_TOKENIZER, "tokens": vocab.tokens,
         "token_type": vocab.token_types, "merges": vocab.merges}
    tok = m.set_split_regex(m.add_gguf_special_tokens(m.byte_level_tokenizer(d), d), d)
    text = "<|im_start|>user\nTo be, or not to be — 12345 ünïcödé 日本 😀<|im_end|>\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == sv.SPECIALS.index("<|im_start|>")
    assert ids[-2] == sv.SPECIALS.index("<|im_end|>")
    assert tok.decode(ids) == text
    assert len(ids) < len(text.encode())  # merges do compress
