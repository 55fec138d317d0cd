"""The tokenizer built from the GGUF for aiperf and the exact-length prompts.

It is saved as the generic fast class with compact JSON (aiperf loads it at every start; the model
classes re-parse the JSON in Python). These tests hold it to the model class's token ids.
"""
import json
from types import SimpleNamespace

import pytest

from joulebench.capture.prompts import corpus_words


@pytest.fixture(scope="module")
def built(tmp_path_factory, default_gguf):
    from joulebench.toolchain.llamacpp import source_dir
    from joulebench.models.gguf_file import read_metadata
    from joulebench.models.templates import resolve_template
    from joulebench.models.tokenizer import build_tokenizer, snapshot_dir

    meta = read_metadata(default_gguf, arrays=())
    src = source_dir()  # the llama.cpp sources bootstrap fetched (chat templates)
    template = resolve_template("gemma3-270m", "google-gemma-2-2b-it.jinja", src if src.exists() else None, meta)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JOULEBENCH_CACHE", str(tmp_path_factory.mktemp("jbcache")))  # a fresh build
        repo_id, hf_home = build_tokenizer("gemma3-270m", default_gguf, template)
        yield SimpleNamespace(snap=snapshot_dir(repo_id), gguf=default_gguf, template=template,
                              repo_id=repo_id, hf_home=str(hf_home))


def reference_tokenizer(gguf, template):
    """What build_tokenizer saved before: transformers' own class for the GGUF's tokenizer."""
    from joulebench.models.gguf_file import read_metadata
    from joulebench.models.tokenizer import model_class_tokenizer

    tok, _ = model_class_tokenizer(read_metadata(gguf))
    tok.chat_template = template.read_text()
    return tok


def ids(x):
    return list(x["input_ids"] if hasattr(x, "keys") else x)


def test_saved_as_generic_fast_class_with_compact_json(built):
    cfg = json.loads((built.snap / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    head = (built.snap / "tokenizer.json").read_text()[:200]
    assert "\n" not in head and head.startswith('{"version"')


def test_same_token_ids_as_the_model_class(built):
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(str(built.snap))
    reference = reference_tokenizer(built.gguf, built.template)
    assert len(saved) == len(reference) == 262144
    words = corpus_words()
    for start in range(0, 6000, 150):
        text = " ".join(words[start:start + 300]) + " <b>x</b>\n\n  tabs\tand ünïcode 東京"
        assert saved.encode(text) == reference.encode(text)
        msgs = [{"role": "user", "content": text}]
        assert ids(saved.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)) == \
            ids(reference.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True))
    assert saved.bos_token == reference.bos_token and saved.eos_token == reference.eos_token
    assert saved.encode("hi")[0] == reference.bos_token_id


def test_loading_it_logs_no_mistral_regex_warning(built):
    """transformers 5 took the saved tokenizer (262k tokens, a config.json without a version) for a
    Mistral one and logged "This will lead to incorrect tokenization" at every load, in every
    prepare-models and capture log. A folder built before keeps working and is mended on next use."""
    import logging

    from transformers import AutoTokenizer

    from joulebench.models.tokenizer import build_tokenizer

    class Records(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    def warned() -> bool:
        records = Records()
        logger = logging.getLogger("transformers")
        logger.addHandler(records)
        try:
            AutoTokenizer.from_pretrained(str(built.snap))
        finally:
            logger.removeHandler(records)
        return any("incorrect tokenization" in m for m in records.messages)

    for _ in range(2):
        assert not warned()
        (built.snap / "config.json").write_text("{}\n")  # as built before
        assert warned()  # what the test looks for is seen
        assert build_tokenizer("gemma3-270m", built.gguf, built.template)[0] == built.repo_id


def test_prompt_memo_serves_any_smaller_request_count(built):
    """Prompts are drawn in sequence from the seed: 2 requests get the first 2 of the 3 built."""
    import shutil

    from joulebench.capture.prompts import build_prompts, load_tokenizer, templated_len
    from joulebench.paths import cache_dir

    repo_id, hf_home = built.repo_id, built.hf_home
    three = build_prompts(repo_id, hf_home, 64, 3, seed=7)
    memo = list((cache_dir() / "prompts").glob("*.json"))
    assert len(memo) == 1
    assert build_prompts(repo_id, hf_home, 64, 2, seed=7) == three[:2]
    tok = load_tokenizer(repo_id, hf_home)
    assert [templated_len(tok, t) for t in three] == [64, 64, 64] and len(set(three)) == 3
    shutil.rmtree(cache_dir() / "prompts")
    assert build_prompts(repo_id, hf_home, 64, 2, seed=7) == three[:2]  # built afresh: same draw
    assert build_prompts(repo_id, hf_home, 64, 3, seed=8) != three


def test_prepare_models_fills_the_caches_a_capture_reads(built, tmp_path, capsys):
    """`joulebench prepare-models` (bootstrap.sh runs it while llama.cpp builds): the tokenizer the
    capture will use (the one already built is reused, not rebuilt) and, per prompt length, the
    exact-length prompts of the sweep's count plus warm-up, which a capture then reads from the memo."""
    import yaml

    from joulebench.capture.prompts import build_prompts, load_tokenizer, templated_len
    from joulebench.cli import main
    from joulebench.paths import cache_dir
    from tests.conftest import load_default_config

    cfg = load_default_config()
    cfg["sweep"].update(prompt_tokens=[48, 64], gen_tokens=[8], requests=3, warmup_requests=1, seed=11)
    cfg["models"]["gemma3-270m"]["chat_template"] = str(built.template)  # this cache has no llama.cpp sources
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    tokenizer_mtime = (built.snap / "tokenizer.json").stat().st_mtime_ns
    memo_dir = cache_dir() / "prompts"
    before = set(memo_dir.glob("*.json")) if memo_dir.exists() else set()

    assert main(["prepare-models", "--config", str(path)]) == 0
    assert built.repo_id in capsys.readouterr().out
    assert (built.snap / "tokenizer.json").stat().st_mtime_ns == tokenizer_mtime
    new = set(memo_dir.glob("*.json")) - before
    assert len(new) == 2
    stamps = {p: p.stat().st_mtime_ns for p in new}
    tok = load_tokenizer(built.repo_id, built.hf_home)
    for ctx in (48, 64):
        four = build_prompts(built.repo_id, built.hf_home, ctx, 4, seed=11)  # read from the memo
        assert [templated_len(tok, t) for t in four] == [ctx] * 4 and len(set(four)) == 4
    assert {p: p.stat().st_mtime_ns for p in new} == stamps  # nothing was drawn again

    assert main(["prepare-models", "--config", str(path)]) == 0
    assert {p: p.stat().st_mtime_ns for p in new} == stamps

    cfg["models"]["gemma3-270m"]["source"] = {"path": "no-such.gguf"}
    path.write_text(yaml.safe_dump(cfg))
    assert main(["prepare-models", "--config", str(path)]) == 1
    assert "no-such.gguf" in capsys.readouterr().err
