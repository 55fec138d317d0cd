"""tegrastats (Jetson): a child `tegrastats --interval N` whose lines are stamped on arrival.

The line's own label has whole-second resolution in the board's local time (no zone), so it is
kept only for ordering checks; timing comes from the arrival stamps. The raw line is stored; the
analysis re-parses it with `parse_line` (pure Python, no tegrastats needed).

Sensor model: a rail's first value is the INA3221 reading at the moment tegrastats read it (the
chip's last conversion, a few ms), the second the running average since tegrastats started; lines
come every `--interval` ms. So a line is a sparse *point* sample of power, stamped when it reaches
us: a line that arrives late (pipe, scheduler) carries a stamp after its reading. `decode` puts
each line back on tegrastats' own schedule (`read_times`) and marks the rails sparse. The chip's
conversion cycle (hwmon `update_interval`, ~6.6 ms at Orin defaults) is recorded at capture where
the INA3221's hwmon is visible; each reading then stands for the mean power over [t - cycle, t]
(as for the `ina3221` source); where it is not, readings are taken as instantaneous and
`energy_problems` says so. Energy per phase comes from a fit of per-phase power levels to all of a
cell's readings (split/cell_energy.py: `point_regression`); integrating between readings 500 ms
apart would smear prefill power into decode.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..runtime.processes import stop_child
from . import ina3221
from .base import Sensor, Source, stamp
from .decoded import Rail, clean

ENVELOPE_LINES = 8  # lines either side that define tegrastats' own schedule around a line
LATE_MIN_NS = 5_000_000  # lateness below this is read jitter, not a late line: left alone
BINARY_ENV = "JOULEBENCH_TEGRASTATS"  # a stand-in tegrastats (tests, other install paths)

LABEL = re.compile(r"^(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s")
RAIL = re.compile(r"(?<![\w@])([A-Z][A-Z0-9_]*) (-?\d+)(mW)?/(-?\d+)(mW)?(?:/(-?\d+)(mW)?)?(?=\s|$)")
TEMP = re.compile(r"(?<![\w@%])([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C(?:/(-?\d+(?:\.\d+)?)C)?(?=\s|$)")
CPU = re.compile(r"\bCPU \[([^\]]*)\]")
GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+)[\d,]*\]?)?")
EMC = re.compile(r"\bEMC_FREQ (\d+)%(?:@(\d+))?")
RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
NOT_RAILS = {"RAM", "SWAP", "IRAM"}
DEFAULT_RAILS = ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC")  # Orin Nano / NX


class Rejected(ValueError):
    """A line that is not a usable sample; str() is the reason."""


def parse_line(line: str, expected_rails=None) -> dict:
    """One tegrastats line -> {label, rails_mw{rail: current}, rails_avg_mw, temps_c, cpu, gpu...}.

    Raises Rejected(reason). `expected_rails`: rails that must be present (a line missing one is
    not comparable with its neighbours)."""
    s = line.rstrip("\r\n")
    if not s.strip():
        raise Rejected("empty line")
    if any(ord(c) < 32 and c != "\t" for c in s) or "\\x00" in s:
        raise Rejected("non-printable characters (garbage)")
    m = LABEL.match(s)
    if not m:
        raise Rejected("no 'MM-DD-YYYY HH:MM:SS' label")
    if re.search(r"[/@\[,(]$", s.rstrip()):
        raise Rejected("truncated line (ends inside a field)")
    rails, avg, unitless = {}, {}, []
    for rm in RAIL.finditer(s):
        name = rm.group(1)
        if name in NOT_RAILS:
            continue
        if not rm.group(3) or not rm.group(5):
            unitless.append(name)
            continue
        rails[name] = int(rm.group(2))
        avg[name] = int(rm.group(4))
    if unitless:
        raise Rejected(f"rail values without mW unit ({', '.join(unitless)}): older format, units ambiguous")
    if not rails:
        raise Rejected("no power rails")
    neg = [f"{k}={v}mW" for k, v in rails.items() if v < 0]
    if neg:
        raise Rejected(f"negative power reading ({', '.join(neg)})")
    missing = [r for r in (expected_rails or ()) if r not in rails]
    if missing:
        raise Rejected(f"missing rail(s) {', '.join(missing)}")
    temps = {t.group(1).lower(): float(t.group(2)) for t in TEMP.finditer(s)}
    out = {"label": m.group(1), "rails_mw": rails, "rails_avg_mw": avg, "temps_c": temps}
    cm = CPU.search(s)
    if cm:
        cores = [c.strip() for c in cm.group(1).split(",")]
        on = [re.match(r"(\d+)%(?:@(\d+))?", c) for c in cores if c != "off"]
        out["cpu_online"] = len(on)
        out["cpu_load_pct"] = [int(x.group(1)) for x in on if x]
        freqs = [int(x.group(2)) for x in on if x and x.group(2)]
        if freqs:
            out["cpu_mhz_max"] = max(freqs)
    g = GR3D.search(s)
    if g:
        out["gpu_load_pct"] = int(g.group(1))
        if g.group(2):
            out["gpu_mhz"] = int(g.group(2))
    e = EMC.search(s)
    if e:
        out["emc_load_pct"] = int(e.group(1))
        if e.group(2):
            out["emc_mhz"] = int(e.group(2))
    r = RAM.search(s)
    if r:
        out["ram_used_mb"] = int(r.group(1))
    return out


def majority_rails(lines) -> tuple[str, ...]:
    """Rails present in at least half of the lines that show any rail: the stream's rail set."""
    seen, n = Counter(), 0
    for s in lines:
        names = {m.group(1) for m in RAIL.finditer(s) if m.group(1) not in NOT_RAILS}
        if names:
            n += 1
            seen.update(names)
    return tuple(sorted(k for k, v in seen.items() if 2 * v >= n))


def _label_time(label: str) -> datetime:
    return datetime.strptime(label, "%m-%d-%Y %H:%M:%S")


def parse_stream(lines, expected_rails=None) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """Parse in order: ([(index, parsed)], [(index, reason)]). Adds stream checks: the rail set
    (majority if not given) and labels that go backwards."""
    lines = list(lines)
    rails = tuple(expected_rails) if expected_rails else majority_rails(lines)
    ok, rejected, last = [], [], None
    for i, s in enumerate(lines):
        try:
            p = parse_line(s, rails)
            t = _label_time(p["label"])
            if last is not None and t < last:
                raise Rejected(f"label {p['label']} earlier than the previous line's")
            last = t
            ok.append((i, p))
        except Rejected as exc:
            rejected.append((i, str(exc)))
        except ValueError as exc:  # impossible date in the label
            rejected.append((i, f"bad label ({exc})"))
    return ok, rejected


class TegrastatsSource(Source):
    name = "tegrastats"

    def __init__(self, interval_ms: int, root: str | None = None, binary: str | None = None):
        super().__init__(interval_ms)
        self.binary = binary or os.environ.get(BINARY_ENV) or shutil.which("tegrastats") or "/usr/bin/tegrastats"
        self.proc = None
        self.root = root or "/"

    def meta(self) -> dict:
        return {"binary": self.binary, "argv": [self.binary, "--interval", str(self.interval_ms)],
                "child_pid": self.proc.pid if self.proc else None, **conversion_cycle(self.root)}

    def samples(self, should_stop):
        # Our own child, stopped by its pid only (never `pkill tegrastats`: others may run one).
        self.proc = subprocess.Popen([self.binary, "--interval", str(self.interval_ms)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        for line in self.proc.stdout:
            st = stamp()  # first thing on arrival: the label alone cannot place a sample
            yield {**st, "line": line.rstrip("\n")}
            if should_stop():
                break
        if self.proc.poll() is not None and self.proc.returncode not in (0, -15):
            self.errors.append(f"tegrastats exited {self.proc.returncode}: {self.proc.stderr.read()[-500:]}")

    def close(self) -> None:
        if self.proc:
            stop_child(self.proc, grace_s=5)


def read_times(t_ns: np.ndarray) -> tuple[np.ndarray, int]:
    """(estimated read times, lines moved). tegrastats prints on a fixed period, so its reading
    times lie on a near-regular grid; arrival adds a non-negative delay. The grid around each line
    is the lower envelope of (stamp - k x period) over ENVELOPE_LINES lines either side; a line more
    than LATE_MIN_NS behind it is moved back onto it. A gap (a line never printed) restarts the grid."""
    t = np.asarray(t_ns, dtype=np.int64)
    if t.size < 3:
        return t.copy(), 0
    d = np.diff(t)
    per = float(np.median(d))
    out = t.copy()
    cuts = np.concatenate([[0], np.flatnonzero(d > 1.6 * per) + 1, [t.size]])
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        k = np.arange(hi - lo)
        r = t[lo:hi] - per * k
        w = ENVELOPE_LINES
        env = np.array([r[max(0, i - w):i + w + 1].min() for i in range(r.size)])
        grid = (env + per * k).astype(np.int64)
        late = t[lo:hi] - grid > LATE_MIN_NS
        out[lo:hi] = np.where(late, grid, t[lo:hi])
    moved = int(np.sum(out != t))
    return np.maximum.accumulate(out), moved


def conversion_cycle(root: str = "/") -> dict:
    """The INA3221 settings tegrastats reads through: its conversion cycle per hwmon and which hwmon
    each rail is on (empty where the hwmon is not visible: readings are then taken as instantaneous)."""
    chans = ina3221.find_channels(root)
    hws = sorted({c["hwmon"] for c in chans.values()})
    return {"update_interval_ms": {hw: ina3221.read_setting(hw, "update_interval") for hw in hws},
            "channels": {rail: {"hwmon": c["hwmon"]} for rail, c in chans.items()}}


def decode(tr, samples, meta: dict, meta_path: Path) -> None:
    ok, rej = parse_stream([s.get("line", "") for s in samples])
    tr.rejected_lines = len(rej)
    for reason in sorted({r for _, r in rej}):
        tr.problems.append(f"tegrastats: {sum(1 for _, r in rej if r == reason)} line(s) rejected: {reason}")
    if not ok:
        return
    arrival = np.array([s["t_ns"] for s in samples], dtype=np.int64)
    order = np.argsort(arrival, kind="stable")  # the schedule is rebuilt over every line, rejected ones too
    fixed = np.empty_like(arrival)
    fixed[order], moved = read_times(arrival[order])
    if moved:
        tr.problems.append(f"tegrastats: {moved} late line(s) moved back onto the print schedule")
    t = np.array([fixed[i] for i, _ in ok], dtype=np.int64)
    for rail in ok[0][1]["rails_mw"]:
        v = np.array([p["rails_mw"].get(rail, np.nan) for _, p in ok], dtype=float) / 1000.0
        tt, vv = clean(t, v, rail, tr.problems)
        win = ina3221.averaging_window_ms(meta, rail)
        if win is None:
            tr.problems.append(f"{rail}: INA3221 update_interval not recorded: tegrastats readings taken as instantaneous")
        tr.rails[rail] = Rail(rail, "power", tt, vv, tt, vv, window_ns=(win or 0.0) * 1e6, sparse=True)
    th = pd.DataFrame({"t_ns": t,
                       "temp_cpu_c": [p["temps_c"].get("cpu", np.nan) for _, p in ok],
                       "temp_gpu_c": [p["temps_c"].get("gpu", np.nan) for _, p in ok],
                       "temp_tj_c": [p["temps_c"].get("tj", np.nan) for _, p in ok],
                       "gpu_clock_mhz": [p.get("gpu_mhz", np.nan) for _, p in ok]})
    tr.thermal = th.sort_values("t_ns").drop_duplicates("t_ns")


def summarize(samples: list, meta: dict) -> dict:
    ok, rej = parse_stream([s.get("line", "") for s in samples])
    return {"rails": sorted(ok[0][1]["rails_mw"]) if ok else [], "rejected_lines": len(rej),
            "rejected_reasons": sorted({r for _, r in rej})[:20]}


SENSOR = Sensor(name="tegrastats", headline_rail="VDD_IN", default_interval_ms=500, make_source=TegrastatsSource,
                decode=decode, available=lambda root: True, platforms=("jetson",),
                auto_reason="auto: INA3221 hwmon not readable, using tegrastats",
                interval_key="tegrastats_interval_ms", value_keys=("line",), summarize=summarize,
                meta_keys=("update_interval_ms",))
