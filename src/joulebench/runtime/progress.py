"""What a long sweep has done and how long the rest should take, read from the run directory alone
(`joulebench status`): accepted cells (results/raw/<cell>/cell.json), the capture running now (its
`.staging-<pid>` folders, its aiperf's streamed profile_export.jsonl) and an ETA from the measured
wall time of the accepted cells.

ETA method (a ratio estimator): the capture wall time of the accepted cells (capture_start_ns to
capture_end_ns in cell.json; the cells of one block run share one window, counted once) divided by
their total work, each cell's work being requests x (ctx + gen); times the pending cells' work.
Time between captures (parsing, Snakemake) is not in it, so the ETA is a lower estimate.
Before the first cell is accepted (a block run accepts its cells only at its end), a provisional
ETA takes the pace of the live capture's measured requests so far instead (LIVE_METHOD).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import config as C
from ..capture import adaptive
from ..capture.block import block_work_dir, pending_dir, staging_dir
from ..capture.load import AIPERF_DIR
from ..capture.writeonce import MARKER
from ..errors import ParseError
from ..paths import RAW, RUN_STATE, cell_suffix, raw_dir
from .processes import pid_alive, start_ticks

METHOD = "capture wall time of {n} accepted cells ({runs} capture runs), per request x (ctx+gen), " \
         "applied to the {m} pending cells' requests x (ctx+gen){auto}; time between captures not included"

LIVE_METHOD = "provisional, from the live capture's pace: {done} measured requests in {elapsed} since its first " \
              "one, per request x (ctx+gen) at its cells' mean ctx+gen ({mean:.0f}), applied to the pending " \
              "cells' requests x (ctx+gen) less the requests done; time between captures not included"


@dataclass
class Captured:
    cell: C.Cell
    requests: int
    start_ns: int
    end_ns: int
    waiting: bool = False  # measured by a block run, in results/.run/pending until its own job adopts it


@dataclass
class Live:
    pid: int
    cells: list[C.Cell]
    started_s: float                # the capture process's start (else its staging folder's), epoch s
    requests_done: int | None       # profiling records aiperf has flushed so far (None: not readable)
    requests_planned: int | None
    note: str = ""
    first_request_ns: int | None = None  # request_start_ns of its first measured request


@dataclass
class Status:
    total: int
    captured: list[Captured]
    pending: list[C.Cell]
    live: list[Live] = field(default_factory=list)
    eta_s: float | None = None
    eta_method: str = ""
    now_s: float = 0.0


def planned_requests(sweep: dict) -> int:
    """Requests a cell's capture asks aiperf for: the fixed count, or with `requests: auto` the
    precision rule's maximum (it may stop earlier)."""
    return int(sweep["precision"]["max_requests"] if adaptive.is_auto(sweep) else sweep["requests"])


def work(cell: C.Cell, requests: float) -> float:
    return requests * (cell.ctx + cell.gen)


def read_captured(cell: C.Cell, root: Path) -> Captured | None:
    path = raw_dir(cell, root) / MARKER
    if not path.exists():
        path = pending_dir(root, cell) / MARKER
        if not path.exists():
            return None
    try:
        rec = json.loads(path.read_text())
    except ValueError as exc:
        raise ParseError(path, f"not valid JSON ({exc}); an accepted cell's record is written whole, "
                         "so this one was changed after its capture") from None
    stamps = rec.get("timestamps") or {}
    return Captured(cell, int(rec.get("n_requests") or 0), int(stamps.get("capture_start_ns") or 0),
                    int(stamps.get("capture_end_ns") or 0), waiting=path.parent != raw_dir(cell, root))


def eta(captured: list[Captured], pending: list[C.Cell], sweep: dict) -> tuple[float | None, str]:
    """(seconds, how) for the pending cells; None with the reason when nothing measured allows one."""
    timed = [c for c in captured if c.end_ns > c.start_ns > 0 and c.requests > 0]
    if not pending:
        return 0.0, "every cell accepted"
    if not timed:
        return None, "no ETA: no accepted cell with capture timestamps yet (the first one sets the pace)"
    runs: dict[int, int] = {}
    for c in timed:  # a block run's cells share its start; its window ends with the last cell written
        runs[c.start_ns] = max(runs.get(c.start_ns, 0), c.end_ns)
    wall_s = sum(end - start for start, end in runs.items()) / 1e9
    per_work = wall_s / sum(work(c.cell, c.requests) for c in timed)
    auto = adaptive.is_auto(sweep)
    requests = sum(c.requests for c in timed) / len(timed) if auto else int(sweep["requests"])
    note = f" (requests: auto, taken as the accepted cells' mean {requests:.0f})" if auto else ""
    method = METHOD.format(n=len(timed), runs=len(runs), m=len(pending), auto=note)
    return per_work * sum(work(c, requests) for c in pending), method


def process_started_s(pid: int) -> float | None:
    """Epoch seconds at which `pid` started (Linux /proc), None where that cannot be read."""
    ticks = start_ticks(pid)
    try:
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return None if ticks is None else boot + ticks / os.sysconf("SC_CLK_TCK")


def profiling_records(export: Path) -> tuple[int | None, int | None]:
    """(measured records aiperf has flushed to its streamed export so far, the earliest
    request_start_ns among them); (None, None) where the export cannot be read."""
    try:
        lines = export.read_text().splitlines()
    except OSError:
        return None, None
    done, first = 0, None
    for line in lines:
        try:
            meta = json.loads(line).get("metadata") or {}
        except ValueError:
            continue  # the line being written
        if meta.get("benchmark_phase") == "profiling":
            done += 1
            start = meta.get("request_start_ns")
            if isinstance(start, int) and (first is None or start < first):
                first = start
    return done, first


def live_captures(cfg: dict, pending: list[C.Cell], root: Path) -> list[Live]:
    """Captures whose process still runs, from their staging folders (capture/block.py: the asked
    cell's in its raw folder, its block mates' in results/.run/pending)."""
    by_pid: dict[int, dict] = {}
    for cell in pending:
        for home in (raw_dir(cell, root), pending_dir(root, cell)):
            for d in home.iterdir() if home.is_dir() else []:
                pid = d.name.rpartition("-")[2]
                if pid.isdigit() and staging_dir(home, int(pid)) == d and pid_alive(int(pid)):
                    entry = by_pid.setdefault(int(pid), {"cells": [], "dirs": [], "asked": None})
                    entry["cells"].append(cell)
                    entry["dirs"].append(d)
                    if home == raw_dir(cell, root):
                        entry["asked"] = home
    per_cell = planned_requests(cfg["sweep"])
    out = []
    for pid, entry in sorted(by_pid.items()):
        asked = entry["asked"] or entry["dirs"][0].parent
        block_work = block_work_dir(asked, pid)
        work_dir = block_work if block_work.is_dir() else staging_dir(asked, pid)
        export = work_dir / AIPERF_DIR / "profile_export.jsonl"
        done, first = profiling_records(export)
        note = "" if done is not None else f"aiperf has not written {export} yet (server start, idle baseline)"
        started = process_started_s(pid) or min(d.stat().st_mtime for d in entry["dirs"])
        out.append(Live(pid, entry["cells"], started, done, per_cell * len(entry["cells"]), note, first))
    return out


def read_status(cfg: dict, root: str | Path = ".", now_s: float | None = None) -> Status:
    root = Path(root)
    cells = C.cells(cfg)
    captured, pending = [], []
    for cell in cells:
        got = read_captured(cell, root)
        (captured.append(got) if got else pending.append(cell))
    now_s = time.time() if now_s is None else now_s
    live = live_captures(cfg, pending, root)
    seconds, method = eta(captured, pending, cfg["sweep"])
    if seconds is None:
        seconds, method = live_eta(live, pending, cfg["sweep"], now_s) or (seconds, method)
    return Status(len(cells), captured, pending, live, seconds, method, now_s)


def live_eta(live: list[Live], pending: list[C.Cell], sweep: dict, now_s: float) -> tuple[float, str] | None:
    """A provisional ETA from the first live capture's measured requests so far (LIVE_METHOD), or
    None when no live capture has a timed measured request yet."""
    run = next((lv for lv in live if lv.requests_done and lv.first_request_ns), None)
    if run is None:
        return None
    elapsed = now_s - run.first_request_ns / 1e9
    if elapsed <= 0:
        return None
    mean_tokens = sum(c.ctx + c.gen for c in run.cells) / len(run.cells)
    per_work = elapsed / (run.requests_done * mean_tokens)
    per_cell = planned_requests(sweep)
    left = sum(work(c, per_cell) for c in pending) - run.requests_done * mean_tokens
    how = LIVE_METHOD.format(done=run.requests_done, elapsed=duration(elapsed), mean=mean_tokens)
    if adaptive.is_auto(sweep):
        how += f" (requests: auto, taken at their maximum {per_cell}: an upper estimate)"
    return max(left, 0.0) * per_work, how


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    if d:
        return f"{d} d {h} h {m} min"
    if h:
        return f"{h} h {m} min"
    return f"{m} min {s} s" if m else f"{s} s"


def format_status(st: Status, root: str | Path = ".") -> str:
    waiting = sum(c.waiting for c in st.captured)
    wait_note = (f" ({waiting} of them measured by a block run, in {RUN_STATE}/pending until their own job "
                 "adopts them)") if waiting else ""
    lines = [f"cells: {len(st.captured)} of {st.total} accepted{wait_note}, {len(st.pending)} pending, "
             f"under {Path(root) / RAW}"]
    starts = [c.start_ns for c in st.captured if c.start_ns]
    if starts and st.pending:
        lines.append(f"elapsed: {duration(st.now_s - min(starts) / 1e9)} since the first accepted capture started")
    elif starts:
        span = max(c.end_ns for c in st.captured) - min(starts)
        lines.append(f"captures took {duration(span / 1e9)} from the first start to the last end")
    if not st.live:
        lines.append("capturing now: nothing (no live capture process has a staging folder here)")
    for live in st.live:
        names = ", ".join(cell_suffix(c) for c in live.cells)
        lines.append(f"capturing now (pid {live.pid}, {duration(st.now_s - live.started_s)}): {names}")
        if live.requests_done is None:
            lines.append(f"  requests: not readable: {live.note}")
        else:
            lines.append(f"  requests: {live.requests_done} of {live.requests_planned} measured "
                         "(aiperf's streamed profile_export.jsonl, flushed about every second)")
    if not st.pending:
        lines.append("done: every cell of the config is accepted")
    elif st.eta_s is None:
        lines.append(st.eta_method)
    else:
        running = "; the cells being captured counted in full" if st.live and st.eta_method.startswith("capture wall") \
            else ""
        lines.append(f"ETA {duration(st.eta_s)} ({st.eta_method}{running})")
    return "\n".join(lines)
