"""Capture one cell: the careful sequence, with every step's duration recorded.

mode check -> model + tokenizer -> server (reused per model) -> cool-down -> sampler start ->
idle baseline -> aiperf (warm-up excluded) -> sampler stop -> validate -> provenance -> promote.
"""
from __future__ import annotations

import json
import os
import platform as _pf
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import __version__
from .. import config as C
from ..backends import make_backend
from ..backends.base import ModelInfo
from ..errors import CaptureError
from ..models.gguf_file import read_metadata, sha256
from ..models.sources import resolve_gguf
from ..models.templates import resolve_template
from ..models.tokenizer import build_tokenizer
from ..paths import INCOMPLETE, cell_suffix
from ..platforms import get_platform
from ..telemetry import make_sampler, resolve_source
from . import adaptive, pinning, writeonce
from .aiperf_cmd import aiperf_argv, aiperf_binary
from .cooldown import cool_down
from .prompts import build_prompts, write_dataset
from .validate import problems

STATE_DIR = "results/.run/servers"
PENDING = "results/.run/pending"
# aiperf runs in its own session (so its workers can be stopped as a group); a kill -9 of the
# Snakemake job leaves it running against the server. Its pid is recorded here and any survivor is
# stopped before the next capture (and by the Snakefile's onsuccess / onerror).
CLIENT_STATE_DIR = "results/.run/clients"


def say(msg: str) -> None:
    print(f"[joulebench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare_model(cfg: dict, name: str, config_dir: Path) -> ModelInfo:
    from ..backends.llamacpp_build import source_dir

    mcfg = cfg["models"][name]
    gguf = resolve_gguf(name, mcfg, config_dir)
    meta = read_metadata(gguf, arrays=())  # scalars only: milliseconds
    src = source_dir()
    template = resolve_template(name, mcfg.get("chat_template", "gguf"), src if src.exists() else None, meta)
    tok = mcfg.get("tokenizer", "gguf")
    if tok == "gguf":
        tok_id, hf_home = build_tokenizer(name, gguf, template)
    else:
        tok_id, hf_home = str(Path(tok).expanduser().resolve()), None
    return ModelInfo(
        name=name, quant=mcfg["quant"], gguf=gguf, sha256=sha256(gguf), size_bytes=gguf.stat().st_size,
        family=mcfg.get("family"), chat_template=template, tokenizer_id=tok_id, hf_home=hf_home,
        params_m=mcfg.get("params_m"),
    )


def _model_changed(root: Path, cell: C.Cell) -> bool:
    """Remember the last (mode, backend, model) captured; True when this cell starts a new block."""
    marker = root / "results/.run/last_block.json"
    block = [cell.mode, cell.backend, cell.model]
    try:
        last = json.loads(marker.read_text())
    except (OSError, ValueError):
        last = None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(block))
    return last is not None and last != block


def _aiperf_version(binary: str) -> str | None:
    try:
        from importlib.metadata import version

        return version("aiperf")
    except Exception:
        return None


def reap_orphan_clients(state_dir: Path, owner_gone_only: bool = False) -> list[int]:
    """Stop the process group of every aiperf a killed capture left running. Returns the pids.
    owner_gone_only: only those whose snakemake run (JOULEBENCH_OWNER_PID) is gone."""
    import signal

    from ..backends.process import _cmdline, pid_alive

    reaped = []
    for f in sorted(Path(state_dir).glob("*.json")):
        try:
            rec = json.loads(f.read_text())
            pid = int(rec["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            rec, pid = None, None
        owner = (rec or {}).get("owner")
        if owner_gone_only and (owner is None or owner == os.getpid() or (
                pid_alive(owner) and "snakemake" in " ".join(_cmdline(owner)))):
            continue
        if pid and pid_alive(pid) and "aiperf" in " ".join(_cmdline(pid)):
            try:
                os.killpg(pid, signal.SIGKILL)
                reaped.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            f.unlink()
        except FileNotFoundError:
            pass
    return reaped


def run_aiperf(argv: list[str], env: dict, log_path: Path, backend, timeout_s: float,
               state_dir: Path | None = None, on_tick=None) -> int:
    """Run aiperf, mirror its output to our stderr, stop it if the server dies.
    on_tick(pid): called about every 0.2 s while it runs (adaptive stopping, capture/adaptive.py)."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        record = None
        if state_dir is not None:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            record = Path(state_dir) / f"{proc.pid}.json"
            record.write_text(json.dumps({"pid": proc.pid, "argv0": argv[0], "log": str(log_path),
                                          "owner": int(os.environ.get("JOULEBENCH_OWNER_PID", 0)) or None}))

        def pump():
            for chunk in iter(lambda: proc.stdout.readline(), b""):
                log.write(chunk)
                sys.stderr.buffer.write(chunk)
                sys.stderr.flush()

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        deadline = time.monotonic() + timeout_s
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise CaptureError(f"aiperf did not finish within {timeout_s:.0f}s (log: {log_path})")
                try:
                    backend.check_alive()
                except CaptureError:
                    raise
                if on_tick is not None:
                    on_tick(proc.pid)
                time.sleep(1.0 if on_tick is None else 0.2)
        except BaseException:
            _kill_group(proc)
            raise
        finally:
            if record is not None and proc.poll() is not None:
                record.unlink(missing_ok=True)
        t.join(timeout=10)
    return proc.returncode


def _kill_group(proc) -> None:
    import signal

    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def pending_dir(root: Path, cell: C.Cell) -> Path:
    """Block captures park the cells other than the one Snakemake asked for here, complete, until
    their own job promotes them (each job still produces exactly its own output)."""
    return root / PENDING / cell_suffix(cell)


def _adopt_pending(cfg, cell, cell_dir: Path, root: Path) -> dict | None:
    pend = pending_dir(root, cell)
    marker = pend / writeonce.MARKER
    if not marker.exists():
        return None
    record = json.loads(marker.read_text())
    if record.get("cell_settings_hash") != C.cell_settings_hash(cfg, cell):
        where = writeonce.stash_leftovers(pend.parent, root / INCOMPLETE, cell_suffix(cell), "stale-pending")
        say(f"cell {cell_suffix(cell)}: a pending capture with other settings was moved to {where}")
        return None
    os.chmod(marker, 0o644)  # promote() renames it; its content stays untouched
    writeonce.promote(pend, cell_dir)
    say(f"cell {cell_suffix(cell)}: accepted (measured in block {record.get('block', {}).get('id')})")
    return record


def _block_cells(cfg, cell, root: Path) -> list[C.Cell]:
    """This cell plus the block's other cells (same trial) that are neither captured nor pending, in
    capture order (config.cells: a trial's cells alternate direction between trials)."""
    from ..paths import raw_dir

    same = [c for c in C.cells(cfg) if c.block == cell.block]
    rest = [c for c in same if c != cell and not (raw_dir(c, root) / writeonce.MARKER).exists()
            and not (pending_dir(root, c) / writeonce.MARKER).exists()]
    return [cell, *rest]


def capture(cfg: dict, cell: C.Cell, cell_json: Path, config_path: Path, root: Path = Path(".")) -> dict:
    t0_ns, t0 = time.time_ns(), time.monotonic()
    cell_json = Path(cell_json)
    cell_dir = cell_json.parent
    suffix = cell_suffix(cell)
    orphans = reap_orphan_clients(root / CLIENT_STATE_DIR)
    if orphans:
        say(f"stopped aiperf left running by a killed capture (pids {orphans})")
    stashed = writeonce.stash_leftovers(cell_dir, root / INCOMPLETE, suffix, "interrupted")
    if stashed:
        say(f"{suffix}: moved an interrupted capture's files to {stashed}")
    unit = cfg.get("capture", {}).get("unit", "cell")
    if adaptive.is_auto(cfg["sweep"]):
        unit = "cell"  # a block's prompts are sent in order: one cell cannot stop early inside it
    if unit == "block":
        adopted = _adopt_pending(cfg, cell, cell_dir, root)
        if adopted:
            return adopted
    cells = _block_cells(cfg, cell, root) if unit == "block" else [cell]
    stagings = {}
    for c in cells:
        home = cell_dir if c == cell else pending_dir(root, c)
        writeonce.stash_leftovers(home, root / INCOMPLETE, cell_suffix(c), "interrupted")
        stagings[c] = home / f".staging-{os.getpid()}"
        stagings[c].mkdir(parents=True, exist_ok=False)
    work = stagings[cell] if unit == "cell" else cell_dir.parent / f".block-staging-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    sweep = cfg["sweep"]
    say(f"{'cell' if unit == 'cell' else f'block of {len(cells)} cells starting at'} {suffix}: "
        f"{sweep['requests']} requests per cell (+{sweep.get('warmup_requests', 0)} warm-up)")
    steps: dict[str, float] = {}
    try:
        shared, df = _measure(cfg, cells, work, Path(config_path), root, steps)
        if unit == "block":
            block_dir = cell_dir.parent / f"block-{t0_ns}"
            for c in cells:
                _cell_files_from_block(work, block_dir, stagings[c], c, cells, shared)
            writeonce.promote(work, block_dir)
        records = {}
        for i, c in enumerate(cells):
            sub = df[df["_cell"] == i]
            expected = max(len(sub), sweep["precision"]["min_requests"]) if adaptive.is_auto(sweep) \
                else sweep["requests"]
            bad = problems(sub, c.ctx, c.gen, expected)
            if bad:
                hint = ""
                isl_off = sum(": ISL " in b for b in bad)
                if isl_off and isl_off == len(sub):
                    hint = (f"\n  every prompt's length as the server counts it differs from {c.ctx}: is "
                            f"models.{c.model}.tokenizer ({cfg['models'][c.model].get('tokenizer', 'gguf')}) "
                            "the model's own tokenizer?")
                raise CaptureError(f"cell {cell_suffix(c)} rejected:\n  " + "\n  ".join(bad[:20]) + hint)
            records[c] = _cell_record(cfg, c, shared, len(sub))
            if unit == "block":
                records[c]["block"] = {"id": f"block-{t0_ns}", "dir": str(block_dir), "cells": len(cells),
                                       "position": i}
    except BaseException as exc:
        kept = [writeonce.stash_leftovers(st, root / INCOMPLETE, cell_suffix(c), "failed")
                for c, st in stagings.items()]
        if unit == "block" and work.exists():
            kept.append(writeonce.stash_leftovers(work, root / INCOMPLETE, suffix, "failed-block"))
        for d in [*stagings.values(), work]:
            try:
                d.rmdir()
            except OSError:
                pass
        kept = [k for k in kept if k]
        if isinstance(exc, CaptureError) and kept:
            raise CaptureError(f"{suffix}: {exc} (partial capture kept in {kept[0]})") from exc
        raise
    steps["total"] = round(time.monotonic() - t0, 3)
    for c in cells:
        record = records[c]
        record["timestamps"] = {
            "capture_start_ns": t0_ns,
            "capture_end_ns": time.time_ns(),
            "capture_start_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t0_ns / 1e9)),
            **shared["stamps"],
        }
        record["step_seconds"] = {**steps, "cells_in_run": len(cells)}
        (stagings[c] / writeonce.MARKER).write_text(json.dumps(record, indent=1, default=str))
        writeonce.promote(stagings[c], cell_dir if c == cell else pending_dir(root, c))
    say(f"cell {suffix}: accepted in {steps['total']:.1f}s"
        + (f" ({len(cells) - 1} more cells of the block measured and pending)" if len(cells) > 1 else ""))
    return records[cell]


def _measure(cfg, cells: list[C.Cell], work: Path, config_path: Path, root: Path, steps) -> tuple[dict, "pd.DataFrame"]:
    """Everything the cells of one run share: mode, model, server, sampler, one aiperf process."""
    def step(name, since):
        steps[name] = round(time.monotonic() - since, 3)

    first = cells[0]
    stamps = {}
    pin = cfg.get("pinning", {})
    mode_cfg = cfg["modes"][first.mode]
    sweep = cfg["sweep"]

    s = time.monotonic()
    plat = get_platform(cfg)
    plat.apply_mode(first.mode, mode_cfg)
    state_before = plat.read_state()
    plat.verify(first.mode, mode_cfg, state_before)
    step("mode", s)

    s = time.monotonic()
    model = prepare_model(cfg, first.model, config_path.parent)
    step("model_and_tokenizer", s)

    s = time.monotonic()
    server_prefix = pinning.prefix(pin, "server")
    threads = pinning.server_threads(pin, mode_cfg)
    backend = make_backend(first.backend, cfg, root / STATE_DIR, threads, server_prefix)
    if _model_changed(root, first) and cfg.get("memory_hygiene", False):
        backend.stop()
        plat.memory_hygiene()
        say("memory hygiene between models done")
    endpoint = backend.ensure(model)
    step("server_ready", s)
    say(f"server {first.backend} ready at {endpoint.url} ({'reused' if getattr(backend, 'reused', False) else 'started'})")

    s = time.monotonic()
    cooldown = cool_down(cfg.get("cooldown", {}), plat, say)
    step("cooldown", s)

    # prompts: warm-up first, then each cell's requests in order (aiperf samples sequentially)
    s = time.monotonic()
    warm = int(sweep.get("warmup_requests", 0))
    seed = int(sweep.get("seed", 42))
    hf = str(model.hf_home) if model.hf_home else None
    lines, owner = [], []
    auto = adaptive.is_auto(sweep)
    per_cell = sweep["precision"]["max_requests"] if auto else sweep["requests"]
    for i, c in enumerate(cells):
        n = per_cell + (warm if i == 0 else 0)
        for text in build_prompts(model.tokenizer_id, hf, c.ctx, n, seed):
            lines.append((text, c.gen))
            owner.append(i)
    dataset = write_dataset(work / "prompts.jsonl", lines)
    step("prompts", s)

    tcfg = cfg.get("telemetry", {})
    source, reason = resolve_source(cfg, plat.name)
    sampler = make_sampler(source, cfg, work, pinning.prefix(pin, "telemetry"), reason)
    log_start = backend.log_offset()
    s = time.monotonic()
    sampler.start()
    stamps["telemetry_start_ns"] = time.time_ns()
    idle_s = float(tcfg.get("idle_baseline_s", 3)) if source != "none" else 0.0
    if idle_s:
        say(f"idle baseline {idle_s:.1f}s")
        time.sleep(idle_s)
    stamps["idle_end_ns"] = time.time_ns()
    step("idle_baseline", s)

    aiperf_dir = work / "aiperf"
    binary = aiperf_binary(cfg.get("aiperf", {}).get("binary"))
    run_sweep = {**sweep, "requests": len(lines) - warm}
    argv = aiperf_argv(binary, endpoint, model.tokenizer_id, dataset, run_sweep, aiperf_dir,
                       cfg.get("aiperf", {}).get("extra_args", []))
    client_prefix = pinning.prefix(pin, "client")
    env = dict(os.environ)
    if model.hf_home:
        env.update(HF_HOME=str(model.hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    timeout = len(lines) * float(sweep.get("request_timeout_s", 180)) + 300
    stopper = None
    if auto:
        env.update(adaptive.FLUSH_ENV)
        stopper = adaptive.Stopper(aiperf_dir / "profile_export.jsonl", adaptive.Precision.from_config(sweep),
                                   with_energy=source != "none")
    s = time.monotonic()
    stamps["aiperf_start_ns"] = time.time_ns()
    try:
        rc = run_aiperf([*client_prefix, *argv], env, work / "aiperf.log", backend, timeout,
                        root / CLIENT_STATE_DIR, on_tick=stopper)
    finally:
        stamps["aiperf_end_ns"] = time.time_ns()
        telemetry_meta = sampler.stop()
        stamps["telemetry_stop_ns"] = time.time_ns()
        excerpt = backend.log_excerpt(log_start)
        if excerpt:
            (work / "server.log").write_bytes(excerpt)
    step("aiperf", s)
    # a server that died under aiperf is the cause to report (with its log tail), not aiperf's exit
    backend.check_alive()
    if rc != 0:
        raise CaptureError(f"aiperf exited with code {rc}; see {work / 'aiperf.log'}")

    from ..parse.aiperf import parse_requests

    df = parse_requests(aiperf_dir, include_warmup=True)
    df["_line"] = df["conversation_id"].map(_session_index)
    df = df[df["benchmark_phase"] == "profiling"].copy()
    df["_cell"] = df["_line"].map(lambda i: owner[i] if i is not None and 0 <= i < len(owner) else -1)
    measured_s = float(sum((df["end_ns"] - df["start_ns"]) / 1e9))
    steps["serving_requests"] = round(measured_s, 3)
    shared = {
        "stamps": stamps, "plat": plat, "state_before": state_before, "state_after": plat.read_state(),
        "model": model, "backend": backend.provenance(), "server_prefix": server_prefix,
        "client_prefix": client_prefix, "threads": threads, "telemetry": telemetry_meta,
        "config_path": config_path,
        "cooldown": cooldown, "argv": argv, "binary": binary, "owner": owner, "warm": warm,
        "adaptive": stopper.summary() if stopper else None,
    }
    return shared, df


def _session_index(conversation_id) -> int | None:
    """aiperf names single-turn sessions session_000000, ... in dataset order (sequential sampling)."""
    try:
        return int(str(conversation_id).rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return None


def _cell_files_from_block(work: Path, block_dir: Path, staging: Path, cell: C.Cell, cells, shared) -> None:
    """A self-contained raw cell dir: its own records and summary, the block's telemetry linked."""
    from ..parse.aggregate_records import aggregate

    idx = cells.index(cell)
    owner = shared["owner"]
    aip = staging / "aiperf"
    aip.mkdir()
    recs = []
    for name in ("profile_export.jsonl", "profile_export_raw.jsonl"):
        src = work / "aiperf" / name
        if not src.exists():
            continue
        with open(src) as fin, open(aip / name, "w") as fout:
            for line in fin:
                rec = json.loads(line)
                meta = rec.get("metadata") or {}
                i = _session_index(meta.get("conversation_id"))
                if meta.get("benchmark_phase") == "profiling" and i is not None and owner[i] == idx:
                    fout.write(line)
                    if name == "profile_export.jsonl":
                        recs.append(rec)
    (aip / "profile_export_aiperf.json").write_text(
        json.dumps(aggregate(recs, _aiperf_version(shared["binary"])), indent=1))
    with open(work / "prompts.jsonl") as fin, open(staging / "prompts.jsonl", "w") as fout:
        for i, line in enumerate(fin):
            if owner[i] == idx:
                fout.write(line)
    # telemetry and the server log excerpt cover the whole block: hard links, read-only, no copies
    for p in work.iterdir():
        if p.is_file() and (p.name.startswith("telemetry") or p.name in ("server.log", "aiperf.log")):
            os.link(p, staging / p.name)


def _cell_record(cfg, cell: C.Cell, shared: dict, n_requests: int) -> dict:
    model = shared["model"]
    sweep = cfg["sweep"]
    return {
        "schema": 1,
        "status": "accepted",
        "cell": cell.row(),
        "config_file": str(shared["config_path"]),
        "config_hash": C.config_hash(cfg),
        "cell_settings_hash": C.cell_settings_hash(cfg, cell),
        "settings": {
            "mode": cfg["modes"][cell.mode], "backend": cfg["backends"][cell.backend],
            "model": cfg["models"][cell.model],
            "sweep": {k: v for k, v in sweep.items() if k not in ("prompt_tokens", "gen_tokens")},
            "telemetry": cfg.get("telemetry", {}), "cooldown": cfg.get("cooldown", {}),
            "pinning": cfg.get("pinning", {}), "capture": cfg.get("capture", {}),
        },
        "versions": {
            "joulebench": __version__, "aiperf": _aiperf_version(shared["binary"]),
            "python": sys.version.split()[0],
        },
        "backend": shared["backend"],
        "model": {
            "name": model.name, "quant": model.quant, "gguf": str(model.gguf), "sha256": model.sha256,
            "size_bytes": model.size_bytes, "family": model.family, "params_m": model.params_m,
            "chat_template": str(model.chat_template) if model.chat_template else "gguf",
            "tokenizer": model.tokenizer_id, "source": cfg["models"][cell.model]["source"],
        },
        "platform": {**shared["plat"].provenance(), "mode": cell.mode, "state_before": shared["state_before"],
                     "state_after": shared["state_after"]},
        "pinning": {"server_prefix": shared["server_prefix"], "client_prefix": shared["client_prefix"],
                    "server_threads": shared["threads"]},
        "telemetry": shared["telemetry"],
        "cooldown": shared["cooldown"],
        "aiperf_argv": shared["argv"],
        "n_requests": int(n_requests),
        "adaptive": shared["adaptive"],  # sweep.requests: auto: where and why the run stopped
        "host": _pf.node(),
    }
