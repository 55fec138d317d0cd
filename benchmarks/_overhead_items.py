"""Where every second of a sweep's wall time went: serving the measured requests, and each fixed cost.

From the run folder alone: Snakemake's benchmark files (each job's wall seconds), each aiperf run's
cell.json (`timestamps`, `step_seconds`) and aiperf's own log (logs/aiperf.log, millisecond stamps
of its phases). The items add up to the wall time; what no file accounts for is Snakemake itself
(start-up, DAG, scheduling and spawning between jobs).
"""
from __future__ import annotations

import csv
import itertools
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

# aiperf 0.13's log lines that bound its phases (logs/aiperf.log, local time)
AIPERF_MARKS = {
    "started": "Starting AIPerf System",
    "configuring": "System state: initializing -> configuring",
    "configured": "All services configured in",
    "warmup": "Phase warmup (warmup) started",
    "profiling": "Phase profiling (profiling) started",
    "done": "Phase profiling (profiling) complete",
}
TOKENIZER = re.compile(r"Tokenizer\(s\) configured in ([0-9.]+) seconds")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
# the capture's steps before the load, in order (capture/steps.py; one after the other in its main
# thread: the server's own start, `server_start`, runs beside the tokenizer and prompts steps and
# `server_ready` is what is left of it to wait for; records made before this split have no
# `model_files` and a `server_ready` that was the whole start)
PRE_STEPS = ("mode", "model_files", "model_and_tokenizer", "prompts", "server_ready", "cooldown", "idle_baseline")
ANALYSIS_RULES = ("parse_split_pair", "aggregate_pair", "aggregate_all")
LOCK_WAIT = "waiting for the device lock (another checkout's capture)"


def aiperf_marks(log: Path) -> dict[str, float]:
    """Epoch seconds of each mark's first line, and `tokenizer` = the seconds aiperf reports."""
    out: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = STAMP.match(line)
        if not m:
            continue
        for name, text in AIPERF_MARKS.items():
            if name not in out and text in line:
                out[name] = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        t = TOKENIZER.search(line)
        if t and "tokenizer" not in out:
            out["tokenizer"] = float(t.group(1))
    return out


def job_seconds(wd: Path) -> dict[str, dict[str, float]]:
    """rule -> {benchmark file stem path: wall seconds} from results/benchmarks/<rule>/**.tsv."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    root = wd / "results/benchmarks"
    for tsv in root.rglob("*.tsv"):
        rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
        rule = tsv.relative_to(root).parts[0]
        out[rule][str(tsv.relative_to(root / rule).with_suffix(""))] = sum(float(r["s"]) for r in rows)
    return out


LOG_LINE = re.compile(r"^\[joulebench (\d\d:\d\d:\d\d)\] (.*)$")


def lock_waits(wd: Path) -> dict[str, float]:
    """Seconds each capture job waited for another checkout's capture (device lock): from its
    "waiting up to" line to its next line (1 s resolution), by benchmark key."""
    out = {}
    root = wd / "results/logs/capture"
    for log in root.rglob("*.log"):
        stamps = [(m.group(1), m.group(2)) for m in map(LOG_LINE.match, log.read_text(errors="replace").splitlines())
                  if m]
        for (t, text), (t_next, _) in itertools.pairwise(stamps):
            if "waiting up to" in text and "for the device" in text:
                secs = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (x.split(":") for x in (t, t_next))]
                out[str(log.relative_to(root).with_suffix(""))] = (secs[1] - secs[0]) % 86400
                break
    return out


def aiperf_runs(wd: Path) -> list[dict]:
    """One entry per aiperf run: the measuring cell's record, its benchmark key and aiperf's log."""
    runs = {}
    raw = wd / "results/raw"
    for p in sorted(raw.rglob("cell.json")):
        meta = json.loads(p.read_text())
        block = meta.get("block") or {}
        if block.get("position", 0) != 0:
            continue  # measured in another cell's run: that run is counted once
        run_dir = wd / block["dir"] if block.get("dir") else p.parent
        key = str(p.parent.relative_to(raw))
        runs[key] = {"key": key, "meta": meta, "log": run_dir / "aiperf/logs/aiperf.log"}
    return list(runs.values())


def itemise(wd: Path, wall_s: float, serving_s: float) -> dict[str, float]:
    """Seconds per item, in the order they happen; they add up to wall_s."""
    items: dict[str, float] = defaultdict(float)
    jobs = job_seconds(wd)
    waits = lock_waits(wd)
    captures = {k: v - waits.get(k, 0.0) for k, v in jobs.get("capture", {}).items()}
    items[LOCK_WAIT] = sum(waits.values())
    in_steps = 0.0
    for run in aiperf_runs(wd):
        meta, ts = run["meta"], run["meta"]["timestamps"]
        steps = meta["step_seconds"]
        total = (ts["capture_end_ns"] - ts["capture_start_ns"]) / 1e9
        job = captures.pop(run["key"], None)
        if job is not None:
            items["capture job: process start, imports, device lock, exit"] += job - total
        for s in PRE_STEPS:
            items[f"capture step: {s}"] += steps.get(s, 0.0)
        # where aiperf started beside the server (capture/steps.client_beside_server_start), its
        # phases count from the end of the steps before the load: the overlap is counted once
        start = max(ts["aiperf_start_ns"], ts.get("idle_end_ns") or 0) / 1e9
        pre = start - ts["capture_start_ns"] / 1e9
        outside = pre - sum(steps.get(s, 0.0) for s in PRE_STEPS)
        items["capture: before and between the steps (imports, block folders, sampler start)"] += outside
        end = ts["aiperf_end_ns"] / 1e9
        m = aiperf_marks(run["log"]) if run["log"].exists() else {}
        first = m.get("warmup", m.get("profiling"))
        if {"started", "configuring", "configured", "profiling", "done"} <= m.keys():
            tok = m.get("tokenizer", 0.0)
            items["aiperf: interpreter and imports"] += max(0.0, m["started"] - start)
            items["aiperf: services start"] += m["configuring"] - m["started"]
            items["aiperf: tokenizer load"] += tok
            items["aiperf: dataset and configuring"] += m["configured"] - m["configuring"] - tok
            items["aiperf: configured -> first request"] += first - m["configured"]
            items["aiperf: warm-up requests"] += m["profiling"] - first
            items["aiperf: profiling phase beyond the measured requests"] += m["done"] - m["profiling"]
            items["aiperf: results, export, exit"] += end - m["done"]
        else:
            items["aiperf: whole run (its log lacks phase marks)"] += end - start
        items["capture: collect, check, write records"] += (ts["capture_end_ns"] - ts["aiperf_end_ns"]) / 1e9
        in_steps += total
    # the profiling phase holds the measured requests: what is beyond them is the overhead
    items["aiperf: profiling phase beyond the measured requests"] -= serving_s
    items["capture jobs adopting a cell measured in its block"] = sum(captures.values())
    for rule in ANALYSIS_RULES:
        items[f"analysis: {rule}"] = sum(jobs.get(rule, {}).values())
    items["figures (plot job)"] = sum(jobs.get("plot", {}).values())
    counted = sum(sum(v.values()) for v in jobs.values())
    items["snakemake: start, DAG, scheduling, job spawns"] = wall_s - counted
    return dict(items)


def snakemake_elapsed(wd: Path) -> float | None:
    """The `Elapsed time` Snakemake logged (its own timer: starts after the interpreter and imports)."""
    logs = sorted((wd / ".snakemake/log").glob("*.snakemake.log"))
    if not logs:
        return None
    m = re.search(r"Elapsed time: (\d+):(\d\d):(\d\d(?:\.\d+)?)", logs[-1].read_text())
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
