"""Two llama.cpp builds, same model, same threads: is one slower? (issue 16: a cheaper build recipe
must not cost tok/s, TTFT or ITL.)

Alternates the two builds round by round (A B A B ...), so that load from elsewhere on a shared
machine falls on both alike, while holding the device lock (no capture of another checkout runs
meanwhile):
  llama-bench  pp and tg tok/s (`-r` repetitions per round)
  llama-server one server per build and round, `--requests` identical streamed chat requests at
               temperature 0: TTFT, mean ITL, and whether every text equals build A's first text
Per build: median over rounds of each round's median; ratio = B / A. Load average beside each round;
CPU seconds of each fixed piece of work (llama-bench run, server start + requests) beside the tok/s.

    .venv/bin/python benchmarks/llama_build_ab.py --a OLD/bin --b NEW/bin [--model GGUF] [--rounds 3]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish, machine  # noqa: E402

# metric: (label, scale, format)
METRICS = {"pp": ("pp tok/s", 1, "{:.1f}"), "tg": ("tg tok/s", 1, "{:.2f}"),
           "bench_cpu": ("llama-bench CPU s", 1, "{:.2f}"), "ttft": ("TTFT ms", 1e3, "{:.1f}"),
           "itl": ("ITL ms", 1e3, "{:.2f}"), "server_cpu": ("llama-server CPU s", 1, "{:.2f}"),
           "start": ("server start to healthy s", 1, "{:.3f}")}
PROMPT = ("Explain in three short paragraphs why the sky is blue, what Rayleigh scattering is, and why "
          "sunsets are red. Use plain language.")


def default_model() -> Path:
    import yaml

    from joulebench.models.sources import resolve_gguf

    models = yaml.safe_load((REPO / "config.yaml").read_text())["models"]
    name = next(iter(models))
    return resolve_gguf(name, models[name], REPO)


def bench(bin_dir: Path, model: Path, threads: int, reps: int, pp: int, tg: int, ngl: int = 0) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([str(bin_dir / "llama-bench"), "-m", str(model), "-t", str(threads), "-p", str(pp),
                          "-n", str(tg), "-r", str(reps), "-ngl", str(ngl), "-o", "json"], capture_output=True, text=True,
                         check=True, timeout=1800)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = json.loads(out.stdout)
    got = {("pp" if r["n_prompt"] else "tg"): r["avg_ts"] for r in rows}
    # CPU seconds of the same fixed work: unlike tok/s, barely moved by other load (with -t 1 no
    # thread spins waiting for a descheduled sibling)
    got["bench_cpu"] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return got


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stream(port: int, max_tokens: int) -> tuple[float, list[float], str]:
    body = json.dumps({"messages": [{"role": "user", "content": PROMPT}], "stream": True,
                       "temperature": 0, "max_tokens": max_tokens, "seed": 1})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    stamps, text = [], []
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
        if delta:
            stamps.append(time.perf_counter())
            text.append(delta)
    conn.close()
    itl = [b - a for a, b in zip(stamps, stamps[1:])]
    return stamps[0] - t0, itl, "".join(text)


def serve(bin_dir: Path, model: Path, threads: int, requests: int, max_tokens: int, ngl: int = 0) -> dict:
    port = _free_port()
    t0 = time.monotonic()
    proc = subprocess.Popen([str(bin_dir / "llama-server"), "-m", str(model), "-t", str(threads), "-ngl", str(ngl),
                             "--host", "127.0.0.1", "--port", str(port), "-c", "2048", "-np", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    start = time.monotonic() - t0  # model load (GGUF parse, loader, mmap) and warm-up
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{bin_dir}/llama-server did not become healthy (rc {proc.poll()})")
            time.sleep(0.02)
        _stream(port, 8)  # warm-up, not counted
        runs = [_stream(port, max_tokens) for _ in range(requests)]
        server_cpu = _cpu_seconds(proc.pid)  # start-up, warm-up and the requests: the same work for both
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"ttft": statistics.median(r[0] for r in runs),
            "itl": statistics.median(statistics.mean(r[1]) for r in runs),
            "texts": [r[2] for r in runs], "server_cpu": server_cpu, "start": start}


def main() -> None:
    from joulebench.runtime.devicelock import DeviceLock

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", type=Path, required=True, help="bin folder of the reference build")
    ap.add_argument("--b", type=Path, required=True, help="bin folder of the build under test")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="llama-bench repetitions per round")
    ap.add_argument("--requests", type=int, default=5, help="server requests per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pp", type=int, default=256)
    ap.add_argument("--tg", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--ngl", type=int, default=0, help="layers on the GPU (a CUDA build: 99)")
    ap.add_argument("--no-publish", action="store_true")
    args = ap.parse_args()
    model = args.model or default_model()
    builds = {"A": args.a, "B": args.b}
    got = {k: {m: [] for m in METRICS} | {"texts": []} for k in builds}
    loads = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lock = DeviceLock(REPO).acquire(wait_s=3600, say=print)
    try:
        for rnd in range(args.rounds):
            for key, bin_dir in builds.items():
                load = os.getloadavg()[0]
                b = bench(bin_dir, model, args.threads, args.reps, args.pp, args.tg, args.ngl)
                s = serve(bin_dir, model, args.threads, args.requests, args.max_tokens, args.ngl)
                for k in METRICS:
                    got[key][k].append(b[k] if k in b else s[k])
                got[key]["texts"] += s["texts"]
                loads.append(load)
                print(f"round {rnd} {key}: pp {b['pp']:.1f} tg {b['tg']:.2f} tok/s, TTFT {s['ttft']*1e3:.1f} ms, "
                      f"ITL {s['itl']*1e3:.2f} ms, start {s['start']:.3f} s, CPU s bench {b['bench_cpu']:.1f} server {s['server_cpu']:.1f}, "
                      f"load {load:.2f}", flush=True)
    finally:
        lock.release()
    ref = got["A"]["texts"][0]
    same = {k: sum(t == ref for t in got[k]["texts"]) for k in builds}
    med = {k: {m: statistics.median(got[k][m]) for m in METRICS} for k in builds}
    lines = [f"## llama.cpp build A/B — {started}, {machine()}", "",
             f"Command: `.venv/bin/python benchmarks/llama_build_ab.py` — A `{args.a}`, B `{args.b}`; model "
             f"`{model.name}`; `-t {args.threads}`, `-ngl {args.ngl}`; {args.rounds} alternating rounds, each: llama-bench "
             f"pp{args.pp}/tg{args.tg} `-r {args.reps}`, then {args.requests} streamed requests at temperature 0 "
             f"(max_tokens {args.max_tokens}) to a fresh llama-server. 1-min load average per round: "
             f"{min(loads):.2f}–{max(loads):.2f}. Per build: median over rounds.", "",
             "| metric | A | B | B / A | per round A | per round B |", "|---|---|---|---|---|---|"]
    for m, (label, scale, fmt) in METRICS.items():
        a, b = med["A"][m] * scale, med["B"][m] * scale
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {b / a:.3f} | "
                     f"{', '.join(fmt.format(v * scale) for v in got['A'][m])} | "
                     f"{', '.join(fmt.format(v * scale) for v in got['B'][m])} |")
    n = len(got["A"]["texts"])
    lines += ["", f"Texts equal to A's first: A {same['A']}/{n}, B {same['B']}/{n}.", ""]
    text = "\n".join(lines)
    print(text) if args.no_publish else publish(text)


if __name__ == "__main__":
    main()
