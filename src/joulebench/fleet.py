"""Submit and watch one Snakemake job on its fleet device: the submit and status commands of
Snakemake's cluster-generic executor (docs/fleet.md). Not a scheduler: Snakemake decides what runs
when (one capture per device at a time through the per-device resource, config.device_resource);
this only starts the job script where its device is, and says whether it still runs.

    snakemake --executor cluster-generic --jobs 8 \\
      --cluster-generic-submit-cmd "python -m joulebench.fleet submit {params.configfile} '{wildcards.device}'" \\
      --cluster-generic-status-cmd "python -m joulebench.fleet status"

The executor appends the job script's path (submit) or the printed job id (status). A device with
`submit:` in the config gets that argv ({host}, {cores}, {name} replaced) with the job script
appended, e.g. ["ssh", "{host}", "bash"] (the script's paths must be the same there: a shared file
system). Without it the job runs on this machine pinned to the device's `cores` (taskset). Either
way a small watcher process runs the argv here and records its exit status under JOBS; its pid is
the job id. A job whose watcher is gone without a status (killed) has failed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from . import config as C
from .paths import LOGS, RUN_STATE, device_from_tag
from .runtime.processes import cmdline, pid_alive

JOBS = f"{RUN_STATE}/fleet"  # one record per submitted job: <id>.json (what, where), <id>.rc (its exit status)
FLEET_LOGS = f"{LOGS}/fleet"


def submit_argv(cfg: dict, device: str | None, jobscript: str) -> list[str]:
    """The argv that runs `jobscript` on `device` (None: this machine, unpinned)."""
    if device is None:
        return ["/bin/sh", jobscript]
    dev = C.device_config(cfg, device)["devices"][device]
    fields = {"host": dev.get("host", ""), "cores": dev.get("cores", ""), "name": device}
    if "submit" in dev:
        return [arg.format(**fields) for arg in dev["submit"]] + [jobscript]
    pin = ["taskset", "-c", dev["cores"]] if dev.get("cores") else []
    return [*pin, "/bin/sh", jobscript]


def submit(config_file: str, device_tag: str, jobscript: str, workdir: Path = Path(".")) -> int:
    """Start the job detached (its own session, so the head's Ctrl-C is the executor's to pass on);
    returns the job id."""
    device = device_from_tag(device_tag)
    argv = submit_argv(C.load(config_file), device, jobscript)
    jobs, logs = Path(workdir) / JOBS, Path(workdir) / FLEET_LOGS
    jobs.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{Path(jobscript).stem}.log", "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "joulebench.fleet", "watch", str(jobs.resolve()), *argv],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    record = {"device": device, "argv": argv, "jobscript": jobscript, "submitted": time.time()}
    (jobs / f"{proc.pid}.json").write_text(json.dumps(record) + "\n")
    return proc.pid


def watch(jobs: str, argv: list[str]) -> int:
    """Run argv (same process group: a kill of the job kills both), record its exit status."""
    rc = subprocess.call(argv, stdin=subprocess.DEVNULL)
    tmp = Path(jobs) / f"{os.getpid()}.rc.tmp"
    tmp.write_text(f"{rc}\n")
    os.replace(tmp, tmp.with_name(f"{os.getpid()}.rc"))
    return rc


def status(job_id: str, workdir: Path = Path(".")) -> str:
    """running / success / failed, as the cluster-generic executor wants it."""
    jobs = Path(workdir) / JOBS
    rc_file = jobs / f"{job_id}.rc"
    if rc_file.exists():
        return "success" if rc_file.read_text().strip() == "0" else "failed"
    pid = int(job_id)
    if pid_alive(pid) and "joulebench.fleet" in " ".join(cmdline(pid)):
        return "running"
    return "success" if rc_file.exists() else "failed"  # it may have finished just now


USAGE = ("usage: python -m joulebench.fleet submit CONFIG_FILE DEVICE_TAG JOBSCRIPT\n"
         "       python -m joulebench.fleet status JOB_ID")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 4 and args[0] == "submit":
        print(submit(*args[1:]))
        return 0
    if len(args) == 2 and args[0] == "status":
        print(status(args[1]))
        return 0
    if len(args) >= 3 and args[0] == "watch":
        return watch(args[1], args[2:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
