"""Submit one Snakemake job to its fleet device: the submit command of Snakemake's cluster-generic
executor (docs/fleet.md). Not a scheduler: Snakemake decides what runs when (one capture per device
at a time through the per-device resource, config.device_resource); this only starts the job
script where the device is and prints an id.

    snakemake --executor cluster-generic --jobs 8 \\
      --cluster-generic-submit-cmd "python -m joulebench.fleet {params.configfile} '{wildcards.device}'"

The executor appends the job script's path. A device with `submit:` in the config gets that argv
({host}, {cores}, {name} replaced) with the job script appended, e.g. ["ssh", "{host}", "bash"]
(the script's paths must be the same there: a shared file system). Without it the job runs on this
machine, pinned to the device's `cores` (taskset), detached from the head run; its output goes to
results/logs/fleet/. Printed id: the started process's pid.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import config as C
from .paths import LOGS, device_from_tag

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
    cfg = C.load(config_file)
    device = device_from_tag(device_tag)
    argv = submit_argv(cfg, device, jobscript)
    logs = Path(workdir) / FLEET_LOGS
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{Path(jobscript).stem}.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return proc.pid


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m joulebench.fleet CONFIG_FILE DEVICE_TAG JOBSCRIPT", file=sys.stderr)
        return 2
    print(submit(*args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
