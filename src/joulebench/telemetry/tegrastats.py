"""tegrastats (Jetson): a child `tegrastats --interval N` whose lines are stamped on arrival.

The line's own label has whole-second resolution in the board's local time (no zone), so it is
kept only for ordering checks; timing comes from the arrival stamps. The raw line is stored; the
analysis re-parses it with `parse_line` (pure Python, no tegrastats needed).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from datetime import datetime

from .base import Source, stamp

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
        self.binary = binary or shutil.which("tegrastats") or "/usr/bin/tegrastats"
        self.proc = None

    def meta(self) -> dict:
        return {"binary": self.binary, "argv": [self.binary, "--interval", str(self.interval_ms)],
                "child_pid": self.proc.pid if self.proc else None}

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
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
