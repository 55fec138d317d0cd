"""Analysis at seed scale: parse + split + aggregate of a GENERATED raw tree through Snakemake.

The tree has the seed's size: 768 cells (4 modes x 2 backends x 8 models x 4 prompts x 3 gens,
config/jetson-orin-nano-super.yaml) x 20 requests, INA3221-style telemetry every 20 ms
(~1 M samples). It is generated data (cell.json says so: "generated": true), in the real raw
format (docs/raw-format.md), so the real rules run on it. Targets (2-core machine, issue 17):
  full analysis <= 30 s; one changed cell re-aggregated <= 2 s; `snakemake -n` on 768 cells <= 10 s.
The figures are timed beside it (no target of their own), and so is the one-cell rerun's floor:
Snakemake's start and DAG with the same jobs planned, plus their first pandas/pyarrow import.

    .venv/bin/python benchmarks/analysis_scale.py [--keep DIR] [--no-publish]
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish, record_target, machine  # noqa: E402
sys.path.insert(0, str(REPO / "src"))

from joulebench import config as C  # noqa: E402
from joulebench.parse.aggregate_records import aggregate  # noqa: E402
from joulebench.paths import raw_dir  # noqa: E402

T0 = 1_795_526_400_000_000_000
MS = 1_000_000
RERUN_TARGET_S = 2  # issue 17: one re-measured cell re-analysed and re-aggregated
RAILS = {"VDD_IN": 1.0, "VDD_CPU_GPU_CV": 0.45, "VDD_SOC": 0.2}


# bits per weight of the quantisations the seed config uses: a plausible GGUF size for the generated
# cell.json (the figures read model_size_bytes; a real capture records the file's size)
BITS_PER_WEIGHT = {"Q4_K_M": 4.85, "Q8_0": 8.5}


def generated_model(name: str, model_cfg: dict) -> dict:
    quant = model_cfg.get("quant", "Q4_K_M")
    params_m = model_cfg.get("params_m")
    size = int(params_m * 1e6 * BITS_PER_WEIGHT.get(quant, 8.5) / 8) if params_m else None
    return {"name": name, "quant": quant, "params_m": params_m, "size_bytes": size}


def write_cell(d: Path, cell: C.Cell, rng, t0: int, requests: int, period_ms: int, model: dict | None = None) -> int:
    """model: cell.json's model record; by default name and quant only (the golden tree's, which
    the golden summary pins: its size columns are None there, as in a record that lacks them)."""
    model = model or {"name": cell.model, "quant": "Q4_K_M"}
    (d / "aiperf").mkdir(parents=True)
    pre = rng.uniform(40, 160, requests) * (cell.ctx / 1024)
    dec = rng.uniform(800, 1000, requests) * (cell.gen / 128)
    dec = dec * 26_000 / max(1.0, (pre + dec + 30).sum() + 3000)  # ~26 s per cell: ~1.3 k samples at 20 ms
    start = t0 + 3000 * MS + np.cumsum(np.r_[0, (pre + dec + 30)[:-1]]) * MS
    first = start + pre * MS
    end = first + dec * MS
    recs = []
    for i in range(requests):
        ttft, lat = pre[i], pre[i] + dec[i]
        m = {"time_to_first_token": ttft, "request_latency": lat, "inter_token_latency": dec[i] / (cell.gen - 1),
             "time_to_second_token": dec[i] / (cell.gen - 1), "output_sequence_length": cell.gen,
             "input_sequence_length": cell.ctx, "usage_prompt_tokens": cell.ctx,
             "usage_completion_tokens": cell.gen, "decode_duration": dec[i],
             "output_token_throughput_per_user": (cell.gen - 1) / (dec[i] / 1000),
             "e2e_output_token_throughput": cell.gen / (lat / 1000),
             "prefill_throughput_per_user": cell.ctx / (ttft / 1000)}
        recs.append({"metadata": {"conversation_id": f"session_{i:06d}", "x_request_id": f"r{i}",
                                  "benchmark_phase": "profiling", "request_start_ns": int(start[i]),
                                  "request_ack_ns": int(start[i] + 5 * MS), "request_end_ns": int(end[i])},
                     "metrics": {k: {"value": float(v), "unit": "ms"} for k, v in m.items()}})
    with open(d / "aiperf" / "profile_export.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in recs)
    (d / "aiperf" / "profile_export_aiperf.json").write_text(json.dumps(aggregate(recs, "0.13.0")))
    # power: idle 2 W, prefill 9 W, decode 5.6 W, 3 % noise; sampled every period_ms
    t_end = int(end[-1]) + 500 * MS
    ts = np.arange(t0, t_end, period_ms * MS)
    p = np.full(ts.size, 2.0)
    for s, f, e in zip(start, first, end):
        p[(ts >= s) & (ts < f)] = 9.0
        p[(ts >= f) & (ts < e)] = 5.6
    p *= 1 + 0.03 * rng.standard_normal(ts.size)
    with open(d / "telemetry.jsonl", "w") as fh:
        for t, w in zip(ts.tolist(), p.tolist()):
            fh.write('{"t_ns": %d, "mono_ns": %d, "p_mw": {%s}}\n' % (
                t, t - T0, ", ".join(f'"{k}": {w * s * 1000:.1f}' for k, s in RAILS.items())))
    tmeta = {"source": "ina3221", "rails": list(RAILS), "interval_ms": period_ms, "samples": int(ts.size)}
    (d / "telemetry_meta.json").write_text(json.dumps(tmeta))
    meta = {"schema": 1, "status": "accepted", "generated": True,
            "cell": {"mode": cell.mode, "backend": cell.backend, "model": cell.model, "ctx": cell.ctx, "gen": cell.gen},
            "backend": {"kind": cell.backend}, "model": model,
            "platform": {"platform": "jetson", "state_before": {"device_name": "GENERATED"}},
            "telemetry": tmeta, "versions": {"aiperf": "0.13.0"},
            "timestamps": {"telemetry_start_ns": t0, "idle_end_ns": t0 + 3000 * MS,
                           "aiperf_start_ns": t0 + 3000 * MS, "aiperf_end_ns": t_end}}
    (d / "cell.json").write_text(json.dumps(meta))
    return int(ts.size)


def generate(wd: Path, requests: int = 20, period_ms: int = 20) -> tuple[int, int]:
    cfg = C.load(REPO / "config/jetson-orin-nano-super.yaml")
    rng = np.random.default_rng(42)
    samples = 0
    cells = C.cells(cfg)
    for i, cell in enumerate(cells):
        model = generated_model(cell.model, cfg["models"][cell.model])
        samples += write_cell(raw_dir(cell, wd), cell, rng, T0 + i * 40_000 * MS, requests, period_ms, model)
    shutil.copy(REPO / "config/jetson-orin-nano-super.yaml", wd / "config.yaml")
    return len(cells), samples


def load_1min() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def worker_log_sizes(wd: Path) -> dict[Path, int]:
    logs = wd / "results/logs"
    return {f: f.stat().st_size for f in logs.rglob("*.log")} if logs.exists() else {}


def worker_cpu(wd: Path, before: dict[Path, int]) -> float:
    """CPU seconds the analysis worker processes reported in the logs during one step (the pool's
    processes are not children Snakemake waits for, so its rusage misses them; work done in the
    job's own process is in Snakemake's rusage already)."""
    total = 0.0
    for f, size in worker_log_sizes(wd).items():
        text = f.read_text()[before.get(f, 0):]
        total += sum(float(m) for m in re.findall(r"([0-9.]+) CPU s in \d+ worker", text))
        total += sum(float(m) for m in re.findall(r"pooled in ([0-9.]+) CPU s in a worker", text))
    return total


def snakemake(wd: Path, *args) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system of Snakemake and its children, plus what the analysis
    worker processes reported: what others' work on the machine does not inflate) and the 1-min
    load average before the command."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(wd),
           "--configfile", str(wd / "config.yaml"), *args]
    load = load_1min()
    logs = worker_log_sizes(wd)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime + worker_cpu(wd, logs)
    if proc.returncode:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-4000:]}")
    return dt, cpu, load


def remeasure(wd: Path, cfg: dict, cell: C.Cell, index: int) -> None:
    """One cell captured again: new raw files (another draw), as a re-measure leaves them."""
    d = raw_dir(cell, wd)
    shutil.rmtree(d)
    write_cell(d, cell, np.random.default_rng(7), T0 + index * 40_000 * MS, 20, 20,
               generated_model(cell.model, cfg["models"][cell.model]))


def rerun_floor(wd: Path, cfg: dict, cell: C.Cell, index: int) -> tuple[float, float, float]:
    """What the one-cell rerun costs before any of its work: the cell re-measured once more, then
    `snakemake -n` on the same target (Snakemake's start, the Snakefile, the 785-job DAG, the same 3
    jobs planned; none run) and the first `import pandas, pyarrow.parquet` of a fresh interpreter
    (the jobs' first import, paid once per Snakemake process). Leaves the cell re-measured and not
    re-analysed; nothing runs on this tree after it."""
    d = raw_dir(cell, wd)
    shutil.rmtree(d)
    write_cell(d, cell, np.random.default_rng(8), T0 + index * 40_000 * MS, 20, 20,
               generated_model(cell.model, cfg["models"][cell.model]))
    dry_s, dry_cpu, load = snakemake(wd, "-n", "results/summary.parquet")
    code = "import pandas, pyarrow.parquet"
    empty = min(_python_seconds("pass") for _ in range(3))
    imports = min(_python_seconds(code) for _ in range(3)) - empty
    return dry_s + imports, dry_cpu + imports, load


def _python_seconds(code: str) -> float:
    t = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.monotonic() - t


def jobs_seconds_since(wd: Path, since: float) -> float:
    """Summed wall seconds of the jobs whose `benchmark:` file was written after `since` (epoch s):
    the jobs a step ran, without Snakemake's own start and DAG."""
    import pandas as pd

    files = [f for f in (wd / "results/benchmarks").rglob("*.tsv") if f.stat().st_mtime >= since]
    return sum(float(pd.read_csv(f, sep="\t").iloc[-1]["s"]) for f in files)


def rule_seconds(wd: Path) -> dict[str, tuple[int, float]]:
    """Per rule: jobs and summed wall seconds from Snakemake's `benchmark:` files (the last run of
    each job; jobs overlap on 2 cores, so the sum exceeds the wall time; their cpu_time is useless
    here: a `run:` job reports the whole Snakemake process's cumulative CPU)."""
    import pandas as pd

    out = {}
    for rule_dir in sorted((wd / "results/benchmarks").iterdir()):
        files = list(rule_dir.rglob("*.tsv"))
        rows = [pd.read_csv(f, sep="\t").iloc[-1] for f in files]
        out[rule_dir.name] = (len(rows), sum(float(r["s"]) for r in rows))
    return out


def tree_and_args(prefix: str) -> tuple[Path, argparse.Namespace]:
    """The folder a script generates its tree into (--keep DIR, else a new temporary one) and its
    options (--no-publish: print the section only)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="generate into this dir and keep it")
    ap.add_argument("--no-publish", action="store_true", help="print the section, do not append it to RESULTS.md")
    args = ap.parse_args()
    wd = Path(args.keep or tempfile.mkdtemp(prefix=prefix))
    wd.mkdir(parents=True, exist_ok=True)
    return wd, args


def main() -> None:
    wd, args = tree_and_args("jb-scale-")
    t = time.monotonic()
    n_cells, n_samples = generate(wd)
    gen_s = time.monotonic() - t
    dry = snakemake(wd, "-n")  # every cell captured: the DAG is the analysis one
    full = snakemake(wd, "--cores", "2", "results/summary.parquet")
    rules = rule_seconds(wd)
    figs = snakemake(wd, "--cores", "2", "figures")
    # one cell re-measured: its raw files change, Snakemake re-runs its pair (the other 95 cells'
    # kept results are reused), the pair's aggregate and the summary. (Touching a cell.json does
    # not count: Snakemake compares the checksum of a newer input before re-running.)
    cfg = C.load(REPO / "config/jetson-orin-nano-super.yaml")
    cells = C.cells(cfg)
    one = C.Cell("15W", "llamacpp", "Qwen2.5-0.5B", 512, 128)
    remeasure(wd, cfg, one, cells.index(one))
    incr_start = time.time()
    incr = snakemake(wd, "--cores", "2", "results/summary.parquet")
    incr_jobs = jobs_seconds_since(wd, incr_start)
    reanalysed = re.findall(r"(\d+) analysed, (\d+) unchanged", (wd / "results/logs/parse_split/15W_llamacpp.log")
                            .read_text())[-1]
    floor = rerun_floor(wd, cfg, one, cells.index(one))
    fresh = Path(tempfile.mkdtemp(prefix="jb-dag-"))
    shutil.copy(wd / "config.yaml", fresh / "config.yaml")
    dag = snakemake(fresh, "-n")  # nothing captured: 768 capture jobs + analysis
    import pandas as pd

    s = pd.read_parquet(wd / "results/summary.parquet")
    n_figs = sum(1 for _ in (wd / "results/figures").glob("*.png"))
    rows = [
        ("analysis of 768 cells (parse + split + aggregate)", full, 30),
        (f"figures and tables from that summary ({n_figs} PNGs)", figs, None),
        (f"one re-measured cell re-analysed and re-aggregated ({reanalysed[0]} cell analysed, {reanalysed[1]} kept)", incr, RERUN_TARGET_S),
        ("the same: its jobs alone (Snakemake's start and DAG not counted)", (incr_jobs, float("nan"), incr[2]), None),
        ("the floor under it: Snakemake's start and DAG with the same 3 jobs to run, none run (`-n`), plus the "
         "jobs' first pandas/pyarrow import in a fresh interpreter", floor, None),
        ("snakemake -n, 768 cells nothing captured", dag, 10),
        ("snakemake -n, 768 cells all captured", dry, 10),
    ]
    lines = [f"## Analysis at seed scale — {time.strftime('%Y-%m-%d %H:%M')} on {machine()}", "",
             f"Command: `.venv/bin/python benchmarks/analysis_scale.py`. GENERATED raw tree: {n_cells} cells x 20 "
             f"requests, INA3221-style telemetry every 20 ms = {n_samples:,} samples (generated in {gen_s:.0f} s); "
             f"summary rows {len(s)}, decode tok/J resolved in {int(s['decode_tok_per_j'].notna().sum())} cells. "
             "Load = 1-min load average before the step: with other work on the machine the seconds are upper "
             "bounds.", "",
             "| what | wall s | CPU s | load | target | ratio to target | status |", "|---|---|---|---|---|---|---|"]
    for what, (sec, cpu, load), tgt in rows:
        if tgt is None:
            cpu_text = f"{cpu:.1f}" if cpu == cpu else "—"
            lines.append(f"| {what} | {sec:.1f} | {cpu_text} | {load:.1f} | — | — | — |")
        else:
            lines.append(f"| {what} | {sec:.1f} | {cpu:.1f} | {load:.1f} | <= {tgt} | {sec / tgt:.2f} | "
                         f"{'met' if sec <= tgt else 'NOT met'} |")
    lines += ["", f"The one-cell rerun's floor is {floor[0]:.2f} s of its {RERUN_TARGET_S} s target "
              f"({100 * floor[0] / RERUN_TARGET_S:.0f} %) before any parsing, splitting, pooling or writing: "
              f"{RERUN_TARGET_S - floor[0]:.2f} s are left for that work, which took {incr[0] - floor[0]:.2f} s here."]
    lines += ["", "Snakemake `benchmark:` seconds of the full analysis, per rule (summed over jobs):", "",
              "| rule | jobs | wall s summed | per job |", "|---|---|---|---|"]
    lines += [f"| {r} | {n} | {sec:.1f} | {sec / n:.2f} |" for r, (n, sec) in rules.items() if n]
    text = "\n".join(lines) + "\n"
    if args.no_publish:
        print(text)
    else:
        publish(text)
    for what, (sec, cpu, load), tgt in rows:
        record_target(what, sec, tgt or 0, "s", note=f"{cpu:.1f} CPU s" if cpu == cpu else "", load=load)


if __name__ == "__main__":
    main()
