"""Capture one cell: the careful sequence, with every step's duration recorded.

mode check -> model + tokenizer -> server (reused per model) -> cool-down -> sampler start ->
idle baseline -> aiperf (warm-up excluded) -> sampler stop -> validate -> provenance -> promote.
"""
from __future__ import annotations

import errno
import json
import os
import platform as _pf
import sys
import time
from pathlib import Path

from .. import __version__
from .. import config as C
from ..backends import make_backend
from ..backends.base import ModelInfo
from ..errors import CaptureError
from ..models.gguf_file import read_metadata, sha256
from ..models.sources import resolve_gguf, resolve_tokenizer
from ..models.templates import resolve_template
from ..models.tokenizer import build_tokenizer
from ..paths import INCOMPLETE, SUPERSEDED, cell_suffix
from ..platforms import get_platform
from ..runtime import rundir
from ..runtime.clients import disk_error, reap_orphan_clients, run_aiperf
from ..runtime.devicelock import DeviceLock
from ..runtime.forced import is_forced
from ..runtime.processes import Terminated, sigterm_raises
from ..telemetry import make_sampler, resolve_source
from . import adaptive, pinning, writeonce
from .aiperf_cause import aiperf_failure_cause
from .aiperf_cmd import aiperf_argv, aiperf_binary
from .cooldown import cool_down
from .prompts import build_prompts, write_dataset
from .validate import problems

DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)  # reported in one line, naming the path


def say(msg: str) -> None:
    print(f"[joulebench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare_model(cfg: dict, name: str, config_dir: Path) -> ModelInfo:
    from ..backends.llamacpp_build import source_dir

    mcfg = cfg["models"][name]
    gguf = resolve_gguf(name, mcfg, config_dir)
    meta = read_metadata(gguf, arrays=())  # scalars only: milliseconds
    src = source_dir()
    template = resolve_template(name, mcfg.get("chat_template", "gguf"), src if src.exists() else None, meta,
                                config_dir, gguf)
    tok = mcfg.get("tokenizer", "gguf")
    if tok == "gguf":
        tok_id, hf_home = build_tokenizer(name, gguf, template)
    else:
        tok_id, hf_home = str(resolve_tokenizer(name, tok, config_dir)), None
    return ModelInfo(
        name=name, quant=mcfg["quant"], gguf=gguf, sha256=sha256(gguf), size_bytes=gguf.stat().st_size,
        family=mcfg.get("family"), chat_template=template, tokenizer_id=tok_id, hf_home=hf_home,
        params_m=mcfg.get("params_m"),
    )


def _model_changed(root: Path, cell: C.Cell) -> bool:
    """Remember the last (mode, backend, model) captured; True when this cell starts a new block."""
    marker = rundir.last_block_file(root)
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


def pending_dir(root: Path, cell: C.Cell) -> Path:
    """Block captures park the cells other than the one Snakemake asked for here, complete, until
    their own job promotes them (each job still produces exactly its own output)."""
    return rundir.pending_dir(root) / cell_suffix(cell)


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
    """Capture one cell (or its block) holding the machine's device lock throughout."""
    lock = DeviceLock(root).acquire(say=say)
    try:
        with sigterm_raises():
            return _capture(cfg, cell, Path(cell_json), config_path, Path(root))
    except Terminated as exc:
        raise CaptureError(f"{cell_suffix(cell)}: {exc}") from None
    except OSError as exc:
        if exc.errno in DISK_ERRNOS:
            raise disk_error(exc, exc.filename or cell_json.parent) from None
        raise
    finally:
        lock.release()


def _keep_or_supersede(cell_json: Path, suffix: str, root: Path) -> dict | None:
    """A complete capture already in the cell's folder (Snakemake deleted its cell.json to rerun the
    job): kept, unless this run was asked to measure it again; then it moves, whole, to
    raw-superseded/. Returns the kept record, or None to measure."""
    cell_dir = cell_json.parent
    record = writeonce.complete_record(cell_dir)
    if record is None:
        return None
    if not is_forced(cell_json):
        restored = writeonce.restore_marker(cell_dir)
        say(f"cell {suffix}: kept the accepted capture already there"
            + (" (its job finished after its run was killed; Snakemake took it for incomplete)" if restored else "")
            + f"; to measure it again: snakemake --cores 1 -f {cell_json}")
        return record
    where = writeonce.supersede(cell_dir, root / SUPERSEDED, suffix)
    say(f"cell {suffix}: measuring again as asked; the earlier capture is kept complete in {where}")
    return None


def _capture(cfg: dict, cell: C.Cell, cell_json: Path, config_path: Path, root: Path) -> dict:
    t0_ns, t0 = time.time_ns(), time.monotonic()
    cell_dir = cell_json.parent
    suffix = cell_suffix(cell)
    # under the device lock no capture runs: any recorded aiperf is a killed capture's
    orphans = reap_orphan_clients(rundir.clients_dir(root))
    if orphans:
        say(f"stopped aiperf left running by a killed capture (pids {orphans})")
    kept = _keep_or_supersede(cell_json, suffix, root)
    if kept is not None:
        return kept
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
        kept = _set_aside(stagings, work if unit == "block" else None, suffix, root)
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
            exc = disk_error(exc, exc.filename or work.parent)
        if isinstance(exc, (CaptureError, Terminated)) and kept:
            logs = [n for n in ("aiperf.log", "server.log") if (kept[0] / n).exists()]
            raise CaptureError(f"{suffix}: {exc}\n  the attempt's files are kept in {kept[0]}"
                               + (f" (see its {' and '.join(logs)})" if logs else "")) from None
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


def _set_aside(stagings: dict, block_work: Path | None, suffix: str, root: Path) -> list[Path]:
    """After a failure: every staging folder's files go to raw-incomplete/ (never deleted), the
    folder with aiperf's log first in the returned list. A failing move (full disk) is reported,
    not raised, so that the original error stays the one shown."""
    moves = [(st, cell_suffix(c), "failed") for c, st in stagings.items()]
    if block_work is not None:
        moves.insert(0, (block_work, suffix, "failed-block"))
    kept = []
    for folder, where, why in moves:
        try:
            dest = writeonce.stash_leftovers(folder, root / INCOMPLETE, where, why)
        except OSError as exc:
            say(f"could not move {folder} to {root / INCOMPLETE} ({exc.strerror}): its files stay there")
            continue
        if dest:
            kept.append(dest)
        try:
            folder.rmdir()
        except OSError:
            pass
    return sorted(kept, key=lambda k: not (k / "aiperf.log").exists())


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
    backend = make_backend(first.backend, cfg, rundir.servers_dir(root), threads, server_prefix)
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
                        rundir.clients_dir(root), on_tick=stopper)
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
        cause = aiperf_failure_cause(aiperf_dir / "profile_export.jsonl", work / "aiperf.log", work / "server.log")
        raise CaptureError(f"aiperf exited with code {rc}" + (f": {cause}" if cause else ""))

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
