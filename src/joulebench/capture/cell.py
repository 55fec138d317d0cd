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
from . import pinning, writeonce
from .aiperf_cmd import aiperf_argv, aiperf_binary
from .cooldown import cool_down
from .prompts import build_prompts, write_dataset
from .validate import problems

STATE_DIR = "results/.run/servers"


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


def _aiperf_version(binary: str) -> str | None:
    try:
        from importlib.metadata import version

        return version("aiperf")
    except Exception:
        return None


def run_aiperf(argv: list[str], env: dict, log_path: Path, backend, timeout_s: float) -> int:
    """Run aiperf, mirror its output to our stderr, stop it if the server dies."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)

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
                time.sleep(1.0)
        except BaseException:
            _kill_group(proc)
            raise
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


def capture(cfg: dict, cell: C.Cell, cell_json: Path, config_path: Path, root: Path = Path(".")) -> dict:
    t0_ns, t0 = time.time_ns(), time.monotonic()
    steps: dict[str, float] = {}

    def step(name, since):
        steps[name] = round(time.monotonic() - since, 3)

    cell_json = Path(cell_json)
    cell_dir = cell_json.parent
    suffix = cell_suffix(cell)
    stashed = writeonce.stash_leftovers(cell_dir, root / INCOMPLETE, suffix, "interrupted")
    if stashed:
        say(f"{suffix}: moved an interrupted capture's files to {stashed}")
    staging = cell_dir / f".staging-{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=False)
    say(f"cell {suffix}: {cfg['sweep']['requests']} requests (+{cfg['sweep'].get('warmup_requests', 0)} "
        f"warm-up), ctx {cell.ctx}, gen {cell.gen}")
    try:
        record = _capture_into(cfg, cell, staging, Path(config_path), root, steps, step)
    except BaseException as exc:
        where = writeonce.stash_leftovers(staging, root / INCOMPLETE, suffix, "failed")
        try:
            staging.rmdir()
        except OSError:
            pass
        if isinstance(exc, CaptureError) and where:
            raise CaptureError(f"{suffix}: {exc} (partial capture kept in {where})") from exc
        raise
    record["timestamps"] = {
        "capture_start_ns": t0_ns,
        "capture_end_ns": time.time_ns(),
        "capture_start_iso": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t0_ns / 1e9)),
        **record.pop("_stamps"),
    }
    steps["total"] = round(time.monotonic() - t0, 3)
    record["step_seconds"] = steps
    (staging / writeonce.MARKER).write_text(json.dumps(record, indent=1, default=str))
    writeonce.promote(staging, cell_dir)
    say(f"cell {suffix}: accepted in {steps['total']:.1f}s")
    return record


def _capture_into(cfg, cell, staging: Path, config_path: Path, root: Path, steps, step) -> dict:
    stamps = {}
    pin = cfg.get("pinning", {})
    mode_cfg = cfg["modes"][cell.mode]

    s = time.monotonic()
    plat = get_platform(cfg)
    plat.apply_mode(cell.mode, mode_cfg)
    state_before = plat.read_state()
    plat.verify(cell.mode, mode_cfg, state_before)
    step("mode", s)

    s = time.monotonic()
    model = prepare_model(cfg, cell.model, config_path.parent)
    step("model_and_tokenizer", s)

    s = time.monotonic()
    server_prefix = pinning.prefix(pin, "server")
    threads = pinning.server_threads(pin, mode_cfg)
    backend = make_backend(cell.backend, cfg, root / STATE_DIR, threads, server_prefix)
    endpoint = backend.ensure(model)
    step("server_ready", s)
    say(f"server {cell.backend} ready at {endpoint.url} ({'reused' if getattr(backend, 'reused', False) else 'started'})")

    s = time.monotonic()
    cooldown = cool_down(cfg.get("cooldown", {}), plat, say)
    step("cooldown", s)

    tcfg = cfg.get("telemetry", {})
    source, reason = resolve_source(cfg, plat.name)
    sampler = make_sampler(source, cfg, staging, pinning.prefix(pin, "telemetry"), reason)
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

    sweep = cfg["sweep"]
    s2 = time.monotonic()
    n_prompts = sweep["requests"] + sweep.get("warmup_requests", 0)
    prompts = build_prompts(model.tokenizer_id, str(model.hf_home) if model.hf_home else None,
                            cell.ctx, n_prompts, int(sweep.get("seed", 42)))
    dataset = write_dataset(staging / "prompts.jsonl", prompts, cell.gen)
    step("prompts", s2)
    aiperf_dir = staging / "aiperf"
    binary = aiperf_binary(cfg.get("aiperf", {}).get("binary"))
    argv = aiperf_argv(binary, endpoint, model.tokenizer_id, dataset, sweep, aiperf_dir,
                       cfg.get("aiperf", {}).get("extra_args", []))
    client_prefix = pinning.prefix(pin, "client")
    env = dict(os.environ)
    if model.hf_home:
        env.update(HF_HOME=str(model.hf_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    timeout = (sweep["requests"] + sweep.get("warmup_requests", 0)) * float(sweep.get("request_timeout_s", 180)) + 300
    s = time.monotonic()
    stamps["aiperf_start_ns"] = time.time_ns()
    try:
        rc = run_aiperf([*client_prefix, *argv], env, staging / "aiperf.log", backend, timeout)
    finally:
        stamps["aiperf_end_ns"] = time.time_ns()
        telemetry_meta = sampler.stop()
        stamps["telemetry_stop_ns"] = time.time_ns()
        excerpt = backend.log_excerpt(log_start)
        if excerpt:
            (staging / "server.log").write_bytes(excerpt)
    step("aiperf", s)
    if rc != 0:
        raise CaptureError(f"aiperf exited with code {rc}; see {staging / 'aiperf.log'}")
    backend.check_alive()

    s = time.monotonic()
    from ..parse.aiperf import parse_requests

    df = parse_requests(aiperf_dir)
    bad = problems(df, cell.ctx, cell.gen, sweep["requests"])
    step("validate", s)
    if bad:
        raise CaptureError("cell rejected:\n  " + "\n  ".join(bad[:20]))

    state_after = plat.read_state()
    return {
        "schema": 1,
        "status": "accepted",
        "cell": {"mode": cell.mode, "backend": cell.backend, "model": cell.model, "ctx": cell.ctx, "gen": cell.gen},
        "config_file": str(config_path),
        "config_hash": C.config_hash(cfg),
        "cell_settings_hash": C.cell_settings_hash(cfg, cell),
        "settings": {
            "mode": mode_cfg, "backend": cfg["backends"][cell.backend], "model": cfg["models"][cell.model],
            "sweep": {k: v for k, v in sweep.items() if k not in ("prompt_tokens", "gen_tokens")},
            "telemetry": tcfg, "cooldown": cfg.get("cooldown", {}), "pinning": pin,
        },
        "versions": {
            "joulebench": __version__, "aiperf": _aiperf_version(binary), "python": sys.version.split()[0],
        },
        "backend": backend.provenance(),
        "model": {
            "name": model.name, "quant": model.quant, "gguf": str(model.gguf), "sha256": model.sha256,
            "size_bytes": model.size_bytes, "family": model.family, "params_m": model.params_m,
            "chat_template": str(model.chat_template) if model.chat_template else "gguf",
            "tokenizer": model.tokenizer_id, "source": cfg["models"][cell.model]["source"],
        },
        "platform": {**plat.provenance(), "mode": cell.mode, "state_before": state_before,
                     "state_after": state_after},
        "pinning": {"server_prefix": server_prefix, "client_prefix": client_prefix,
                    "server_threads": threads},
        "telemetry": telemetry_meta,
        "cooldown": cooldown,
        "aiperf_argv": argv,
        "n_requests": int(len(df)),
        "host": _pf.node(),
        "_stamps": stamps,
    }
