"""Build a virtual environment with the LOWEST declared versions of joulebench's direct dependencies
and run the fast unit suite in it (docs/dependencies.md, "lowest tested", records the last result).

Two sets, because the capture extra raises several floors (aiperf 0.13 pins pandas ~=2.3.3,
seaborn ~=0.13.2 and needs matplotlib >=3.10, scipy >=1.13):

  analysis  every direct dependency pinned to the floor pyproject.toml declares (`name==floor`),
            with the dev and models extras; capture-only tests fail there for want of
            transformers / aiperf / pynvml (pytest lists them)
  capture   the capture, dev and models extras resolved with `--resolution lowest-direct`: each
            direct dependency at the lowest version the whole set can be installed with

    python3 tools/lowest_versions.py --set capture --venv /tmp/jb-lowest-capture
    python3 tools/lowest_versions.py --set analysis -- tests/test_plots_figures.py tests/test_golden_summary.py

Needs a package registry (uv is installed from it into the new environment). Takes ~2 min to
install and ~8 min for the fast suite on an idle 2-core machine: not part of .ci/run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
EXTRAS = {"analysis": ["dev", "models"], "capture": ["capture", "dev", "models"]}
FAST = "not integration and not slow"


def floor(req: Requirement) -> str | None:
    """The lowest version `req` allows: its `>=` or `==` bound (None when it has neither)."""
    bounds = [s.version for s in req.specifier if s.operator in (">=", "==")]
    return bounds[0] if bounds else None


def direct_requirements(extras: list[str]) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def floor_pins(extras: list[str]) -> list[str]:
    return [f"{r.name}=={floor(r)}" for r in direct_requirements(extras) if floor(r)]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=False, **kw)


def build(venv: Path, python: str, which: str) -> None:
    if run([python, "-m", "venv", "--clear", str(venv)]).returncode:
        sys.exit(f"could not create a virtual environment with {python}")
    if run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "uv"]).returncode:
        sys.exit("could not install uv into the new environment (a package registry is needed)")
    extras = EXTRAS[which]
    cmd = [str(venv / "bin" / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),
           "--resolution", "lowest-direct", "-e", f"{REPO}[{','.join(extras)}]"]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as pins:
        if which == "analysis":
            pins.write("\n".join(floor_pins(extras)) + "\n")
            cmd += ["-c", pins.name]
    if run(cmd).returncode:
        sys.exit(f"the {which} set's floors cannot be installed together on {python}: raise the floor "
                 "uv names above, or record it per Python version in docs/dependencies.md")


def installed(venv: Path, extras: list[str]) -> list[tuple[str, str, str]]:
    names = [r.name for r in direct_requirements(extras)]
    code = ("import importlib.metadata as m, sys\n"
            "for n in sys.argv[1:]:\n"
            "    try: print(n, m.version(n))\n"
            "    except m.PackageNotFoundError: print(n, '-')\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, *names],
                         capture_output=True, text=True, check=True).stdout.split()
    have = dict(zip(out[::2], out[1::2]))
    return [(r.name, str(r.specifier), have[r.name]) for r in direct_requirements(extras)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=sorted(EXTRAS), default="capture", dest="which")
    ap.add_argument("--venv", type=Path, help="where to build it (default: a new folder under /tmp)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter to test (default: this one)")
    ap.add_argument("--reuse", action="store_true", help="run the suite in an existing --venv, no install")
    ap.add_argument("pytest_args", nargs="*", help="after --: passed to pytest (default: the fast suite)")
    args = ap.parse_args()
    venv = args.venv or Path(tempfile.mkdtemp(prefix=f"joulebench-lowest-{args.which}-"))
    if not args.reuse:
        build(venv, args.python, args.which)
    print(f"\n{'distribution':45} {'declared':22} installed")
    for name, spec, have in installed(venv, EXTRAS[args.which]):
        print(f"{name:45} {spec:22} {have}")
    py = str(venv / "bin" / "python")
    subprocess.run([py, "-c", "import sys; print('python', sys.version.split()[0])"], check=True)
    tests = args.pytest_args or ["-m", FAST]
    return run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=REPO).returncode


if __name__ == "__main__":
    sys.exit(main())
