"""CPU cost of the telemetry sampler process at 50 Hz (target: <= 2 % of one core).

Runs the real sampler process (`python -m joulebench.telemetry.sampler`) for the INA3221 source
against a sysfs tree with the Jetson Orin's three rails (this machine has no sensor; the reads are
real file reads of the same layout), and for RAPL's layout, at 20 ms for 30 s each, and reads the
process's own CPU time from /proc/<pid>/stat. Start-up (interpreter and imports) is excluded by
measuring between two points after the first samples arrive.

    .venv/bin/python benchmarks/sampler_cpu.py [--seconds 30]
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import publish  # noqa: E402
TICK = os.sysconf("SC_CLK_TCK")


def fake_ina(root: Path) -> None:
    hw = root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    hw.mkdir(parents=True)
    for i, (label, mv, ma) in enumerate((("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 400),
                                         ("VDD_SOC", 5000, 200)), 1):
        (hw / f"in{i}_label").write_text(label + "\n")
        (hw / f"in{i}_input").write_text(f"{mv}\n")
        (hw / f"curr{i}_input").write_text(f"{ma}\n")
    (hw / "update_interval").write_text("5\n")


def fake_rapl(root: Path) -> None:
    d = root / "sys/class/powercap/intel-rapl:0"
    d.mkdir(parents=True)
    (d / "name").write_text("package-0\n")
    (d / "energy_uj").write_text("123456\n")
    (d / "max_energy_range_uj").write_text("262143328850\n")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def measure(source: str, seconds: float, interval_ms: int = 20) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"jb-{source}-"))
    (fake_ina if source == "ina3221" else fake_rapl)(root)
    out = root / "telemetry.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "joulebench.telemetry.sampler", "--source", source,
                             "--interval-ms", str(interval_ms), "--out", str(out), "--root", str(root)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not out.exists() or out.stat().st_size == 0:
        time.sleep(0.05)
    time.sleep(1.0)
    c0, t0, n0 = cpu_s(proc.pid), time.monotonic(), sum(1 for _ in open(out))
    time.sleep(seconds)
    c1, t1, n1 = cpu_s(proc.pid), time.monotonic(), sum(1 for _ in open(out))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    rate = (n1 - n0) / (t1 - t0)
    return {"source": source, "cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rate_hz": rate}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    rows = [measure(s, args.seconds) for s in ("ina3221", "rapl")]
    lines = [f"## Telemetry sampler CPU — {time.strftime('%Y-%m-%d %H:%M')} on {socket.gethostname()}", "",
             f"Command: `.venv/bin/python benchmarks/sampler_cpu.py --seconds {args.seconds:g}` (sampler process at "
             "20 ms, fake sysfs trees of the real layout; CPU from /proc/PID/stat, ~10 ms resolution).", "",
             "| source | samples/s | CPU of one core | target | ratio to target |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['source']} | {r['rate_hz']:.1f} | {r['cpu_pct']:.2f} % | <= 2 % | {r['cpu_pct'] / 2:.2f} |")
    text = "\n".join(lines) + "\n"
    publish(text)


if __name__ == "__main__":
    main()
