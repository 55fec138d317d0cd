#!/usr/bin/env python
"""Reliability matrix: run the fault trials and bad-input cases, write docs/reliability.md.

    .venv/bin/python benchmarks/reliability_matrix.py                 # everything (~20 min on 2 cores)
    .venv/bin/python benchmarks/reliability_matrix.py --kill-trials 5 # fewer kill -9 trials
    .venv/bin/python benchmarks/reliability_matrix.py --only badinput security   # fast groups only
    .venv/bin/python benchmarks/reliability_matrix.py --only workflow --merge    # rerun one group, keep the rest

Every row of the report is a pytest case (the tests are the definition of each trial and of its
pass criterion); the kill -9 trials also log what happened in each (phase, delay, what survived the
kill, what the rerun did) to a JSON-lines file, rendered as its own table. Runs the REAL pipeline
(llama-server, aiperf 0.13, the gemma3-270m GGUF) in temporary working directories on free ports;
never touches results/.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine  # noqa: E402

GROUPS = {
    "kill9": ("kill -9 of the snakemake process group during a capture, then rerun",
              ["tests/test_reliability_kill9.py"]),
    "faults": ("faults around a real capture (server crash, port, binary, GGUF, aiperf and its per-request "
               "cause: context size, timeout, HTTP 501; tokenizer, read-only and full disk)",
               ["tests/test_reliability_faults.py", "tests/test_reliability_server_crash.py",
                "tests/test_writeonce.py"]),
    "concurrent": ("real use beyond one clean run: two runs at once (one directory, two checkouts), kill -9 of "
                   "the main pid only, a forced re-measure of one cell, SIGTERM to the process group",
                   ["tests/test_reliability_concurrent.py"]),
    "runstate": ("run state with real processes: device lock (refuse, wait, a live run's claim), accepted "
                 "captures surviving Snakemake's deletion, forced captures, group stops, pump on a full disk, "
                 "stop-servers sparing a live run, cells measured with other settings",
                 ["tests/test_reliability_runstate.py"]),
    "workflow": ("the workflow as people drive it: YAML errors (file:line:col), damaged model files (truncated "
                 "GGUF, templates, tokenizers) and one base for relative paths, one summary with two configs in "
                 "one results dir, figures/--report before anything exists, dry runs (768 cells, one pair in "
                 "an empty dir), captures from before accepted.json",
                 ["tests/test_reliability_workflow.py", "tests/test_badinput_models.py"]),
    "security": ("no shell, argv verbatim, loopback binding, no secrets in logs/provenance",
                 ["tests/test_security_argv.py"]),
    "badinput": ("bad configurations (schema, cross-field, through snakemake) and damaged aiperf exports",
                 ["tests/test_badinput_config.py", "tests/test_config.py", "tests/test_badinput_aiperf.py",
                  "tests/test_parse_aiperf.py"]),
    "telemetry": ("bad telemetry / energy-split input (tests owned by the telemetry and split work)",
                  ["tests/test_telemetry_*.py", "tests/test_split_*.py"]),
}


# What the cases above hold the pipeline to, and the mechanism behind each (src/joulebench/runtime/,
# capture/writeonce.py): rendered into docs/reliability.md so the guarantees sit beside their evidence.
GUARANTEES = [
    "## What is guaranteed, and how", "",
    "- **One capture at a time per machine**, across processes, runs and checkouts: every capture holds an "
    "`flock` on `~/.cache/joulebench/device.lock` (`JOULEBENCH_DEVICE_LOCK` moves it) recording the capture's "
    "pid, its snakemake run, host, checkout and start time; a run keeps the device between its own captures "
    "while it goes on. Another capture refuses at once with `another capture is running (pid …, since …, in …)`, "
    "or waits up to `JOULEBENCH_DEVICE_WAIT_S` seconds. The kernel drops the lock of a killed holder.",
    "- **Clean-up touches only what no live run owns**: servers and aiperf record the snakemake run that owns "
    "them; start-up, `onsuccess`/`onerror` and `joulebench stop-servers` stop only those of runs that are gone "
    "(or, at a run's end, its own), and nothing at all while a capture holds the device lock.",
    "- **Accepted captures are never deleted**: the record is promoted under two names, `cell.json` (Snakemake's "
    "output) and `accepted.json` (a hard link). When Snakemake deletes `cell.json` to rerun a job it believes "
    "incomplete (its run was killed while the capture went on to accept), the capture job finds the complete "
    "capture and restores `cell.json` instead of measuring again.",
    "- **A re-measure asked for** (`-f PATH/cell.json`, `--forcerun PATH/cell.json`, `--forcerun capture`, `-F`) "
    "measures only the named cells and first moves the earlier capture whole, with its `cell.json`, to "
    "`results/raw-superseded/<cell>/<date>-superseded-<pid>/` (one rename), and says so.",
    "- **Partial captures are moved aside, never deleted**: a failed, interrupted (SIGTERM) or rejected attempt "
    "goes to `results/raw-incomplete/`; no `.staging-*` folder stays in `results/raw/`.",
    "- **Errors name the cause**: an aiperf failure quotes the per-request cause from aiperf's records, its log "
    "or the server's (context size exceeded, timeout, HTTP 501, full disk) and points at where the files are "
    "now; a full or read-only disk is one line naming the path; config errors name the file and key, including "
    "cross-field ones (prompt + generation vs the server context, two servers on one port). YAML syntax errors "
    "read as `config.yaml:LINE:COL: what`; a `--configfile` is parsed by Snakemake itself before any workflow "
    "code runs (snakemake/settings/types.py, `ConfigSettings`), so its YAML error stays Snakemake's "
    "`Config file is not valid JSON or YAML` (non-zero exit, nothing created) and `joulebench check-config FILE` "
    "names the line.",
    "- **Damaged model files are named where they are found**: before a run captures a model (and as a warning in "
    "a dry run, and by `joulebench check-config`), a GGUF given by path is checked to be there, to be GGUF and to "
    "hold every tensor's bytes (`…: truncated GGUF: N bytes, its T tensors need M`), and a chat template or "
    "tokenizer folder to parse; at capture the same checks run on assembled and built models. Relative paths in a "
    "config (model path, chat template, tokenizer) are read from the config file's folder (`config.config_base`).",
    "- **One summary definition**: `results/summary.parquet` is the run's config's pair summaries put together "
    "(metrics/combine.py); each summary records the config it was built with (`built_for.json`), and pair folders "
    "of another config are left out and listed.",
    "- **Captures from before accepted.json** get their second name at the next run's start (before Snakemake can "
    "delete their `cell.json` as incomplete), once.",
    "- **Honest short output**: `snakemake figures` with nothing captured and `--report` before the figures exist "
    "stop with one line saying what to run; a dry run prints the missing-cells table and job counts "
    "(`snakemake -n -p` lists every job): on the 768-cell config/jetson-orin-nano-super.yaml in an empty "
    "directory, 85 lines instead of 25,555 (`-n -p`: 25,563), measured 2026-12-02 with `snakemake -n "
    "--configfile config/jetson-orin-nano-super.yaml | wc -l`.",
]


def run_group(name: str, files: list[str], out: Path, kill_trials: int, kill_log: Path) -> Path:
    import glob

    paths = sorted({p for f in files for p in glob.glob(str(REPO / f))})
    xml = out / f"{name}.xml"
    if not paths:
        return xml
    env = {**os.environ, "JOULEBENCH_KILL_TRIALS": str(kill_trials), "JOULEBENCH_RELIABILITY_LOG": str(kill_log)}
    # -m '': every variant, the `exhaustive` ones included
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", f"--junitxml={xml}", *paths]
    print(f"== {name}: {' '.join(cmd[3:])}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=REPO, env=env)
    print(f"== {name}: {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
    return xml


def read_junit(xml: Path) -> list[dict]:
    if not xml.exists():
        return []
    rows = []
    for tc in ET.parse(xml).getroot().iter("testcase"):
        outcome, detail = "pass", ""
        for tag, word in (("failure", "FAIL"), ("error", "ERROR"), ("skipped", "skipped")):
            el = tc.find(tag)
            if el is not None:
                outcome = word
                detail = (el.get("message") or el.text or "").strip().splitlines()[0][:160] if (el.get("message") or el.text) else ""
                break
        rows.append({"file": tc.get("classname", "").split(".")[-1], "case": tc.get("name", ""),
                     "time_s": float(tc.get("time") or 0), "outcome": outcome, "detail": detail})
    return rows


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def read_existing(md: str) -> tuple[dict[str, list[dict]], str, dict[str, str]]:
    """From a report this script wrote: each group's rows, the kill -9 section verbatim, and when
    each group ran (so that `--only G` can replace just G's rows: the whole matrix takes ~25 min)."""
    import re

    rows: dict[str, list[dict]] = {}
    when: dict[str, str] = {}
    run = re.search(r"^Run (\d{4}-\d\d-\d\d \d\d:\d\d \w+) on", md, re.M)
    for line in md.splitlines():
        m = re.match(r"\| (\w+) \| .* \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|(?: ([^|]+) \|)?$", line)
        if m and m.group(1) in GROUPS:
            when[m.group(1)] = (m.group(6) or (run.group(1) if run else "")).strip()
    kill = re.search(r"^## kill -9 trials\n.*?(?=^## )", md, re.M | re.S)
    for sec in re.finditer(r"^## (\w+): .*?\n\n\|.*?\n\|.*?\n((?:\|.*\n)*)", md, re.M):
        name = sec.group(1)
        for line in sec.group(2).splitlines():
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 4:
                outcome, _, detail = cells[2].partition(": ")
                rows.setdefault(name, []).append({"file": cells[0], "case": cells[1].replace("\\|", "|"),
                                                  "outcome": outcome, "detail": detail,
                                                  "time_s": float(cells[3] or 0)})
    if kill:
        n = len(re.findall(r"^\| \d+ \|", kill.group(0), re.M))
        rows["kill9"] = [{"outcome": "pass" if "| pass |" in l else "FAIL"} for l in
                         re.findall(r"^\| \d+ \|.*$", kill.group(0), re.M)][:n]
    return rows, kill.group(0) if kill else "", when


def render(results: dict[str, list[dict]], kill_rows: list[dict], argv: list[str], wall_s: float,
           kept_kill: str = "", when: dict[str, str] | None = None) -> str:
    lines = ["# Reliability matrix", "",
             "Produced by `benchmarks/reliability_matrix.py` on the REAL pipeline (snakemake CLI, llama-server "
             "build 11434, aiperf 0.13, the gemma3-270m Q4_K_M GGUF) in temporary working directories on free "
             "ports. Rerun with:", "", "```bash", f".venv/bin/python benchmarks/reliability_matrix.py {' '.join(argv)}".rstrip(),
             "```", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} on `{machine()}`, "
             f"{wall_s / 60:.1f} min" + (" (the groups run then; the others are kept from their own run, "
                                        "column `run`)" if when else "")
             + ". Each row is a pytest case; its docstring in the test file is the exact pass criterion.",
             "", "## Summary", "",
             "| group | what | cases | pass | fail | skipped | run |", "|---|---|---:|---:|---:|---:|---|"]
    now = time.strftime("%Y-%m-%d %H:%M %Z")
    for name, rows in results.items():
        n = len(rows)
        c = {k: sum(r["outcome"] == k for r in rows) for k in ("pass", "FAIL", "ERROR", "skipped")}
        lines.append(f"| {name} | {GROUPS[name][0]} | {n} | {c['pass']} | {c['FAIL'] + c['ERROR']} | {c['skipped']} "
                     f"| {(when or {}).get(name, now)} |")
    total = sum(len(r) for r in results.values())
    passed = sum(r["outcome"] == "pass" for rows in results.values() for r in rows)
    lines += ["", f"**{passed} of {total} cases pass.**", "", *GUARANTEES, ""]

    if kill_rows:
        k_pass = sum(r.get("outcome") == "pass" for r in kill_rows)
        lines += ["## kill -9 trials", "",
                  f"{len(kill_rows)} trials, {k_pass} pass. Each: fresh working dir (ctx {{64,128}} x gen {{8}}, 2 requests "
                  "+ 1 warm-up); `snakemake --cores 1` started in its own process group; at the phase's marker "
                  "line (+ a random delay) the sha256 of every accepted raw file is snapshotted and the whole group "
                  "is killed with SIGKILL; then a plain rerun (no `--unlock`: the workflow removes locks no live "
                  "run holds). Pass = the rerun exits 0; no partial cell accepted; no snapshotted file (accepted "
                  "cells and raw-incomplete/) deleted or changed; the cell set and per-cell request counts equal "
                  "a clean run's; no llama-server and no aiperf left running.", "",
                  "Columns: the capture unit (`block`: one aiperf run for the model's missing cells; `cell`: one "
                  "per cell); whether the kill fired before the run ended; what the kill left running; what the "
                  "rerun found and did (`lock`: a stale Snakemake lock removed; `server`/`aiperf`: a process left "
                  "by the killed run stopped; server on rerun: the first cell's server started or reused).", "",
                  "| # | phase | unit | delay s | killed at s | killed | cells accepted at kill | server / aiperf survived kill | rerun cleaned up | rerun rc | rerun s | server on rerun | outcome |",
                  "|---:|---|---|---:|---:|---|---:|---|---|---:|---:|---|---|"]
        for r in sorted(kill_rows, key=lambda r: r["trial"]):
            yn = lambda k: "yes" if r.get(k) else "no"  # noqa: E731
            cleaned = ", ".join(w for w, k in (("lock", "stale_lock_cleared"), ("server", "orphan_server_stopped"),
                                               ("aiperf", "orphan_aiperf_stopped")) if r.get(k)) or "-"
            lines.append(
                f"| {r['trial']} | {r['phase']} | {r.get('unit', '')} | {r.get('delay_s', '')} | {r.get('kill_at_s', '')} | "
                f"{yn('killed') if 'killed' in r else ''}{'' if r.get('killed', True) else ' (run ended first)'} | "
                f"{r.get('accepted_at_kill', '')} | {yn('server_survived_kill')} / {yn('aiperf_survived_kill')} | "
                f"{cleaned} | {r.get('rerun_rc', '')} | {r.get('rerun_s', '')} | "
                f"{r.get('server_on_rerun', '')} | {r['outcome']}"
                + (f": {_md_escape('; '.join(r['problems']))[:300]}" if r.get("problems") else "") + " |")
        lines.append("")
    elif kept_kill:
        lines += [kept_kill.rstrip("\n"), ""]

    for name, rows in results.items():
        if name == "kill9" or not rows:
            continue
        lines += [f"## {name}: {GROUPS[name][0]}", "", "| test file | case | outcome | s |", "|---|---|---|---:|"]
        for r in rows:
            out = r["outcome"] + (f": {_md_escape(r['detail'])}" if r["outcome"] != "pass" and r["detail"] else "")
            lines.append(f"| {r['file']} | {_md_escape(r['case'])} | {out} | {r['time_s']:.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kill-trials", type=int, default=20)
    ap.add_argument("--only", nargs="*", choices=list(GROUPS), default=None)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    ap.add_argument("--keep", type=Path, default=None, help="keep the junit XML and trial log here")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: replace only those groups in the existing --out, keep the others' rows")
    args = ap.parse_args(argv)
    groups = args.only or list(GROUPS)
    work = Path(args.keep or tempfile.mkdtemp(prefix="reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    kill_log = work / "kill9.jsonl"
    kill_log.unlink(missing_ok=True)
    t0 = time.monotonic()
    fresh = {g: read_junit(run_group(g, GROUPS[g][1], work, args.kill_trials, kill_log)) for g in groups}
    kill_rows = [json.loads(x) for x in kill_log.read_text().splitlines()] if kill_log.exists() else []
    kept, kept_kill, when = ({}, "", None)
    if args.merge and args.out.exists():
        kept, kept_kill, when = read_existing(args.out.read_text())
        when = {g: w for g, w in when.items() if g not in fresh}
        if "kill9" in fresh:
            kept_kill = ""
    results = {g: fresh.get(g, kept.get(g, [])) for g in GROUPS if g in fresh or g in kept}
    given = list(argv if argv is not None else sys.argv[1:])
    shown = [a for i, a in enumerate(given) if not a.startswith(("--keep", "--out"))
             and not (i and given[i - 1] in ("--keep", "--out"))]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, kill_rows, shown, time.monotonic() - t0, kept_kill, when))
    print(f"wrote {args.out} (junit XML and trial log in {work})", file=sys.stderr)
    failed = sum(r["outcome"] in ("FAIL", "ERROR") for rows in fresh.values() for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
