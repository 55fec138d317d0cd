"""Where every benchmark script records its result: appended to benchmarks/RESULTS.md, and, when
benchmarks/pipeline_cost.py runs the script, each figure against its target for the side-by-side
table (a JSON line per figure in the file that driver names)."""
from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TARGETS_ENV = "JOULEBENCH_TARGETS_OUT"


def machine() -> str:
    """Where a figure was taken, for every section's heading: host, cores and CPU model (the same
    benchmark differs by ~1.5x between the CPU models this project has run on)."""
    import socket

    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{socket.gethostname()} ({os.cpu_count()} cores, {model})"


def publish(text: str) -> None:
    """Print the section and append it to RESULTS.md (machine, date and command are in `text`)."""
    print(text)
    with open(RESULTS, "a") as fh:
        fh.write("\n" + text)


def record_target(what: str, measured: float, target: float, unit: str, note: str = "",
                  load: float | None = None) -> None:
    """One measured figure against its target (every target here is an upper bound: `measured <=
    target` is met; target 0: a figure without one). `load`: the 1-min load average when it was taken
(now by default). Written only when pipeline_cost.py runs the script (TARGETS_ENV names the file)."""
    path = os.environ.get(TARGETS_ENV)
    if not path:
        return
    row = {"what": what, "measured": float(measured), "target": float(target), "unit": unit, "note": note,
           "load_1min": os.getloadavg()[0] if load is None else float(load)}
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def read_targets(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []
