"""Damaged model files are named, with what is wrong, where they are found: at config-check time
(`joulebench check-config`, a dry run's warning, a run's start) and at capture; relative paths in
a config (a model's source.path, chat_template, tokenizer) are read from the config file's folder.

The GGUFs here are written with gguf-py (the library llama.cpp ships), 2 tensors, 896 bytes."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import reliability_harness as H
from joulebench import config as C
from joulebench.errors import JoulebenchError
from joulebench.models.gguf_file import check_gguf, read_metadata
from joulebench.models.sources import model_file_problems, resolve_gguf, resolve_tokenizer
from joulebench.models.templates import check_template, resolve_template

TEMPLATE = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
TINY_BYTES = 896  # 256 bytes of header + 512 (4x32 f32) + 128 (64 f16)


def write_gguf(path: Path, template: str | None = TEMPLATE) -> Path:
    import gguf
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(path), "llama")
    if template is not None:
        w.add_chat_template(template)
    w.add_tensor("a", np.zeros((4, 32), dtype=np.float32))
    w.add_tensor("b", np.zeros((64,), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def truncated(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    return dst


@pytest.fixture
def tiny(tmp_path):
    return write_gguf(tmp_path / "tiny.gguf")


def test_complete_gguf_passes_and_its_size_is_the_known_one(tiny):
    assert tiny.stat().st_size == TINY_BYTES
    assert check_gguf(tiny, complete=True) == tiny
    assert read_metadata(tiny, arrays=())["tokenizer.chat_template"] == TEMPLATE


@pytest.mark.parametrize("size, needle", [
    (TINY_BYTES - 1, f"truncated GGUF: {TINY_BYTES - 1} bytes, its 2 tensors need {TINY_BYTES} (1 missing)"),
    (300, f"truncated GGUF: 300 bytes, its 2 tensors need {TINY_BYTES} ({TINY_BYTES - 300} missing)"),
    (100, "truncated or damaged GGUF header (100 bytes)"),
    (10, "truncated or damaged GGUF header (10 bytes)"),
    (3, "not a GGUF file (magic bytes b'GGU'"),
    (0, "not a GGUF file (magic bytes b''"),
])
def test_truncated_gguf_is_named_with_what_is_missing(tiny, tmp_path, size, needle):
    bad = truncated(tiny, tmp_path / "bad.gguf", size)
    with pytest.raises(JoulebenchError) as err:
        check_gguf(bad, complete=True)
    assert str(err.value).startswith(f"{bad}: "), err.value
    assert needle in str(err.value), err.value


def test_gguf_missing_or_a_folder(tmp_path):
    with pytest.raises(JoulebenchError, match="GGUF file not found$"):
        check_gguf(tmp_path / "absent.gguf")
    with pytest.raises(JoulebenchError, match=r"GGUF file not found \(it is a folder\)"):
        check_gguf(tmp_path)


def test_relative_model_paths_are_read_from_the_config_files_folder(tiny, tmp_path, monkeypatch):
    """One base: the config file's folder, whatever the working directory."""
    cfgdir = tmp_path / "cfg"
    write_gguf(cfgdir / "models" / "m.gguf")
    (cfgdir / "tpl").mkdir()
    (cfgdir / "tpl" / "chat.jinja").write_text(TEMPLATE)
    tok = cfgdir / "tok"
    tok.mkdir()
    (tok / "tokenizer_config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    base = C.config_base(cfgdir / "config.yaml")
    assert base == cfgdir.resolve()
    mcfg = {"quant": "F32", "source": {"path": "models/m.gguf"}}
    assert resolve_gguf("m", mcfg, base) == base / "models" / "m.gguf"
    assert resolve_template("m", "tpl/chat.jinja", None, {}, base) == (base / "tpl" / "chat.jinja")
    assert resolve_tokenizer("m", "tok", base) == tok.resolve()
    assert C.config_relative("/abs/x.gguf", base) == Path("/abs/x.gguf")
    assert C.config_relative("~/x.gguf", base) == Path.home() / "x.gguf"


def test_chat_template_that_does_not_parse_is_named_with_its_line(tmp_path):
    bad = tmp_path / "bad.jinja"
    bad.write_text("{% for m in messages %}\n{{ m['content'] }\n{% endfor %}\n")
    with pytest.raises(JoulebenchError) as err:
        resolve_template("m", "bad.jinja", None, {}, tmp_path)
    assert str(err.value).startswith(f"{bad}: chat template does not parse as Jinja: line 2:"), err.value
    # the generation block transformers allows is no error
    check_template("{% generation %}{{ x }}{% endgeneration %}", "ok")


def test_a_gguf_template_that_does_not_parse_names_the_gguf(tmp_path):
    g = write_gguf(tmp_path / "t.gguf", template="{% if x %}never closed")
    meta = read_metadata(g, arrays=())
    with pytest.raises(JoulebenchError, match=rf"{g}: tokenizer.chat_template: chat template does not parse as "
                                              r"Jinja: line 1: Unexpected end of template"):
        resolve_template("m", "gguf", None, meta, tmp_path, g)


def test_tokenizer_folder_damage_is_named(tmp_path):
    with pytest.raises(JoulebenchError, match=r"config key 'models.m.tokenizer': .*absent is not a folder"):
        resolve_tokenizer("m", "absent", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(JoulebenchError, match="holds neither tokenizer.json nor tokenizer_config.json"):
        resolve_tokenizer("m", "empty", tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "tokenizer.json").write_text('{"version": "1.0", "model": {')
    with pytest.raises(JoulebenchError, match=rf"{broken / 'tokenizer.json'}: tokenizer does not load: .*line 1"):
        resolve_tokenizer("m", "broken", tmp_path)


def _config_with_model(tmp_path, default_config, **model) -> Path:
    cfg = copy.deepcopy(default_config)
    cfg["models"] = {"tiny": {"quant": "F32", **model}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_check_config_names_every_damaged_model_file(tmp_path, default_config):
    """`joulebench check-config` (what a run checks at its start): one line per damaged file."""
    write_gguf(tmp_path / "models" / "ok.gguf")
    truncated(tmp_path / "models" / "ok.gguf", tmp_path / "models" / "cut.gguf", 500)
    (tmp_path / "bad.jinja").write_text("{{ unclosed")
    cfg = copy.deepcopy(default_config)
    cfg["models"] = {
        "ok": {"quant": "F32", "source": {"path": "models/ok.gguf"}},
        "cut": {"quant": "F32", "source": {"path": "models/cut.gguf"}},
        "gone": {"quant": "F32", "source": {"path": "models/gone.gguf"}},
        "tpl": {"quant": "F32", "source": {"path": "models/ok.gguf"}, "chat_template": "bad.jinja"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    problems = model_file_problems(C.load(tmp_path / "config.yaml"), tmp_path)
    models = tmp_path / "models"
    assert problems == [
        f"model 'cut': {models / 'cut.gguf'}: truncated GGUF: 500 bytes, its 2 tensors need {TINY_BYTES} "
        f"({TINY_BYTES - 500} missing); re-download or re-copy the file",
        f"model 'gone': {models / 'gone.gguf'}: GGUF file not found",
        f"model 'tpl': {tmp_path / 'bad.jinja'}: chat template does not parse as Jinja: line 1: unexpected end "
        "of template, expected 'end of print statement'.",
    ]
    proc = subprocess.run([sys.executable, "-m", "joulebench.cli", "check-config", str(tmp_path / "config.yaml")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(H.REPO / "src")})
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 3 and "truncated GGUF: 500 bytes" in proc.stderr, proc.stderr


def test_a_run_refuses_a_truncated_gguf_before_capturing_and_a_dry_run_names_it(tmp_path, default_config):
    """Through snakemake: a dry run warns (rc 0: it may plan for another machine); the run refuses
    at its start, naming the file, with nothing captured, no server started."""
    (tmp_path / "models").mkdir()
    truncated(write_gguf(tmp_path / "full.gguf"), tmp_path / "models" / "cut.gguf", 700)
    wd = H.make_workdir(tmp_path / "wd", ctx=(32,), gen=(8,), requests=1, warmup=0)
    cfg = H.config(wd)
    cfg["models"] = {"tiny": {"quant": "F32", "source": {"path": str(tmp_path / "models" / "cut.gguf")},
                              "chat_template": "gguf"}}
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    dry = H.run(wd, "-n", timeout=120)
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    assert f"joulebench: warning: model 'tiny': {tmp_path / 'models' / 'cut.gguf'}: truncated GGUF: 700 bytes" in out
    real = H.run(wd, "--cores", "1", timeout=300)
    out = real.stdout + real.stderr
    assert real.returncode != 0
    assert f"model 'tiny': {tmp_path / 'models' / 'cut.gguf'}: truncated GGUF: 700 bytes" in out, out[-3000:]
    assert not (wd / "results" / "raw").exists() and not H.servers_alive(wd)


def test_a_template_name_found_neither_beside_the_config_nor_in_llama_cpp(tmp_path, default_config):
    from joulebench.toolchain.llamacpp import source_dir

    if not source_dir().exists():
        pytest.skip("llama.cpp source not unpacked here: the name is checked at capture")
    cfg = copy.deepcopy(default_config)
    cfg["models"]["gemma3-270m"]["chat_template"] = "gemma-typo.jinja"
    problems = model_file_problems(C.validate(cfg), tmp_path)
    assert problems == [
        f"model 'gemma3-270m': config key 'models.gemma3-270m.chat_template': 'gemma-typo.jinja' is neither a file "
        f"({tmp_path / 'gemma-typo.jinja'}) nor a template in llama.cpp's models/templates/ ({source_dir()})"]
    cfg["models"]["gemma3-270m"]["chat_template"] = "google-gemma-2-2b-it.jinja"  # the shipped config's
    assert model_file_problems(C.validate(cfg), tmp_path) == []
