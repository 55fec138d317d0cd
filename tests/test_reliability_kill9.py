"""kill -9 of the whole snakemake process group at chosen moments of a REAL capture (llama-server,
aiperf 0.13, the real gemma3-270m GGUF), then a rerun. Each trial checks:

* no partial cell is ever accepted (every cell.json is a complete, validating capture; no
  completion marker in raw-incomplete/);
* no raw file of an accepted cell, and nothing in raw-incomplete/, is overwritten or deleted
  (sha256 snapshot taken at the kill, compared after the rerun);
* the plain rerun completes (no `snakemake --unlock`: rules/common.smk removes locks that no live
  run in the directory holds), and the final cell set and per-request rows equal a clean run's;
* the llama-server left running by the kill (own session) is reused or replaced, and no server and
  no aiperf is left behind at the end.

20 trials (2 per phase in tests/reliability_harness.PHASES: the first 10 alternate capture units
`block` and `cell`, the next 10 take the other unit for each phase); ~25 s each on 2 cores. A
default run takes the first 10 (each phase once); the other 10 are `exhaustive` (pytest -m
exhaustive; benchmarks/reliability_matrix.py runs all).
JOULEBENCH_KILL_TRIALS / JOULEBENCH_KILL_SEED change the count and the jitter seed;
JOULEBENCH_RELIABILITY_LOG=path.jsonl records each trial (benchmarks/reliability_matrix.py).
"""
import json
import os
import random
import re
import time

import pandas as pd
import pytest

import reliability_harness as H

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_TRIALS = int(os.environ.get("JOULEBENCH_KILL_TRIALS", "20"))
SEED = int(os.environ.get("JOULEBENCH_KILL_SEED", "20261124"))
PAIR = "results/default/llamacpp/"


def _log(entry: dict) -> None:
    path = os.environ.get("JOULEBENCH_RELIABILITY_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


@pytest.mark.parametrize("trial", [t if t < len(H.PHASES) else pytest.param(t, marks=pytest.mark.exhaustive)
                                   for t in range(N_TRIALS)])
def test_kill9_then_rerun(trial, tmp_path):
    phase = H.PHASES[trial % len(H.PHASES)]
    rng = random.Random(SEED + trial)
    # both capture units: `block` (the default: one aiperf run for the model's missing cells, the
    # other cells parked complete in pending/ until their own job) and `cell`; phases that need a
    # second cell's own capture always use `cell`
    unit = "cell" if "2nd cell" in phase[0] or (trial + trial // len(H.PHASES)) % 2 == 1 else "block"
    wd = H.make_workdir(tmp_path / "wd", capture__unit=unit)
    entry = {"kind": "kill9", "trial": trial, "phase": phase[0], "unit": unit}
    problems = []
    try:
        kill = H.run_and_kill(wd, phase, rng)
        entry.update(delay_s=kill.delay_s, killed=kill.killed, kill_rc=kill.rc, kill_at_s=kill.elapsed_s,
                     accepted_at_kill=len(H.accepted_cells(wd)))
        before = {**kill.snapshot, **H.incomplete_snapshot(wd)}
        problems += [f"after kill: {p}" for p in H.check_no_partial_accepted(wd)]
        entry["server_survived_kill"] = bool(H.servers_alive(wd))
        entry["aiperf_survived_kill"] = bool(H.aiperf_alive(wd))

        # no `snakemake --unlock` first: rules/common.smk clears locks no live run holds
        t0 = time.monotonic()
        rerun = H.run(wd, "--cores", "1", PAIR)
        entry.update(rerun_rc=rerun.returncode, rerun_s=round(time.monotonic() - t0, 1))
        out = rerun.stdout + rerun.stderr
        first = re.search(r"ready at \S+ \((reused|started)\)", out)
        entry["server_on_rerun"] = first.group(1) if first else "not needed"
        both = out
        entry["stale_lock_cleared"] = "removed Snakemake locks left by a killed run" in out
        entry["orphan_aiperf_stopped"] = "stopped aiperf left running" in both
        entry["orphan_server_stopped"] = "stopped servers left by a killed run" in both
        if rerun.returncode != 0:
            problems.append(f"rerun failed ({rerun.returncode}): {out[-3000:]}")
        problems += [f"after rerun: {p}" for p in H.check_snapshot_kept(before, wd)]
        problems += [f"after rerun: {p}" for p in H.check_no_partial_accepted(wd)]
        got = {(int(c.name.split("_")[0][3:]), int(c.name.split("_gen")[1])) for c in H.accepted_cells(wd)}
        if got != H.expected_cells(wd):
            problems.append(f"accepted cells {sorted(got)} != clean run's {sorted(H.expected_cells(wd))}")
        if rerun.returncode == 0:
            req = pd.read_parquet(wd / PAIR / "requests.parquet")
            n = H.config(wd)["sweep"]["requests"]
            per_cell = req.groupby(["ctx", "gen"]).size().to_dict()
            if per_cell != {c: n for c in H.expected_cells(wd)}:
                problems.append(f"requests per cell {per_cell}, a clean run has {n} for each cell")
        left = H.servers_alive(wd), H.aiperf_alive(wd)
        if any(left):
            problems.append(f"left behind: llama-server {left[0]}, aiperf {left[1]}")
        entry["incomplete_entries"] = len(list((wd / H.INCOMPLETE).glob("*/*/*/*/*"))) if (wd / H.INCOMPLETE).exists() else 0
    finally:
        H.kill_pids(H.servers_alive(wd) + H.aiperf_alive(wd))
        entry["problems"] = problems
        entry["outcome"] = "pass" if not problems else "FAIL"
        _log(entry)
    assert not problems, "\n".join(problems)
