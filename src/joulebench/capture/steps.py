"""The capture sequence of one block, as named steps, each one's duration recorded:

enter mode -> prepare model -> start server -> cool down -> write prompts -> idle baseline
-> run load (load.py) -> collect. What they measured together is a BlockRun."""
from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import config as C
from ..backends import make_backend
from ..backends.base import Backend, Endpoint, ModelInfo
from ..platforms import get_platform
from ..platforms.base import Platform
from ..runtime import rundir
from ..telemetry import make_sampler, resolve_source
from . import adaptive, pinning, trial_server
from .block import Block
from .cooldown import cool_down
from .load import AIPERF_DIR, Load, finish_load, start_load
from .log import say
from .model import model_files, with_tokenizer
from .prompts import model_prompts, session_index, write_dataset


@dataclass
class Timings:
    """Seconds per named step (the record's step_seconds)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str):
        since = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - since, 3)


@dataclass
class Server:
    backend: Backend
    endpoint: Endpoint
    prefix: list[str]  # CPU pinning of the server process
    threads: int | None
    trial: dict  # capture/trial_server.py: which trial this server was started for


@dataclass
class Prompts:
    dataset: Path
    line_cell: list[int]  # prompt line -> position of its cell in the block
    warm: int  # warm-up lines at the start (the first cell's)


@dataclass
class BlockRun:
    """What one run measured, shared by every cell of its block (the records quote it)."""

    config_path: Path
    platform: Platform
    state_before: dict
    state_after: dict
    model: ModelInfo
    backend: dict  # Backend.provenance()
    server: Server
    cooldown: dict
    prompts: Prompts
    load: Load
    stamps: dict[str, int]  # wall-clock ns of the window edges
    requests: pd.DataFrame  # profiling records; column _cell = position of the request's cell


def enter_mode(cfg: dict, mode: str) -> tuple[Platform, dict]:
    """Apply the mode, read it back and verify it: a cell is never captured mislabelled."""
    mode_cfg = cfg["modes"][mode]
    plat = get_platform(cfg)
    plat.apply_mode(mode, mode_cfg)
    state = plat.read_state()
    plat.verify(mode, mode_cfg, state)
    return plat, state


def _starts_new_block(root: Path, cell: C.Cell) -> bool:
    """Remember the last (mode, backend, model) captured; True when this cell starts a new one."""
    marker = rundir.last_block_file(root)
    block = [cell.mode, cell.backend, cell.model]
    try:
        last = json.loads(marker.read_text())
    except (OSError, ValueError):
        last = None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(block))
    return last is not None and last != block


def server_backend(cfg: dict, cell: C.Cell, root: Path) -> tuple[Backend, list[str], int | None]:
    """The cell's backend (not started), the CPU pinning of its server process and its threads."""
    pin = cfg["pinning"]
    prefix = pinning.prefix(pin, "server")
    threads = pinning.server_threads(pin, cfg["modes"][cell.mode])
    backend = make_backend(cell.backend, cfg, rundir.servers_dir(root), threads, prefix, cell.concurrency)
    return backend, prefix, threads


def start_server(cfg: dict, cell: C.Cell, model: ModelInfo, plat: Platform, root: Path,
                 made: tuple[Backend, list[str], int | None] | None = None) -> Server:
    """The backend's server for this model, reused when already up (memory hygiene between models)."""
    backend, prefix, threads = made or server_backend(cfg, cell, root)
    if _starts_new_block(root, cell) and cfg["memory_hygiene"]:
        backend.stop()
        plat.memory_hygiene()
        say("memory hygiene between models done")
    stopped = trial_server.before_ensure(cfg, cell, backend, root)  # each trial on its own server
    endpoint = backend.ensure(model)
    trial = trial_server.after_ensure(cfg, cell, backend, root, stopped)
    return Server(backend=backend, endpoint=endpoint, prefix=prefix, threads=threads, trial=trial)


def prompts_per_cell(sweep: dict) -> int:
    """Measured prompts a cell may need (the warm-up's come on top, from the block's first cell)."""
    return int(sweep["precision"]["max_requests"] if adaptive.is_auto(sweep) else sweep["requests"])


def write_prompts(cfg: dict, cells: list[C.Cell], model: ModelInfo, work: Path) -> Prompts:
    """Warm-up first, then each cell's requests in order (aiperf samples sequentially). The warm-up
    has its cell's prompt length, and its generation unless `sweep.warmup_output_tokens` caps it."""
    sweep = cfg["sweep"]
    warm = int(sweep["warmup_requests"])
    warm_cap = sweep.get("warmup_output_tokens")  # absent: as many as the cell generates
    seed = int(sweep["seed"])
    lines, line_cell = [], []
    per_cell = prompts_per_cell(sweep)
    for i, c in enumerate(cells):
        n = per_cell + (warm if i == 0 else 0)
        for j, text in enumerate(model_prompts(model, c.ctx, n, seed)):
            is_warm = i == 0 and j < warm
            lines.append((text, min(c.gen, warm_cap) if is_warm and warm_cap else c.gen))
            line_cell.append(i)
    return Prompts(dataset=write_dataset(work / "prompts.jsonl", lines), line_cell=line_cell, warm=warm)


def idle_baseline(cfg: dict, sampler, with_energy: bool, stamps: dict) -> None:
    """Start the sampler and record the device idle before any request."""
    sampler.start()
    stamps["telemetry_start_ns"] = time.time_ns()
    idle_s = float(cfg["telemetry"]["idle_baseline_s"]) if with_energy else 0.0
    if idle_s:
        say(f"idle baseline {idle_s:.1f}s")
        time.sleep(idle_s)
    stamps["idle_end_ns"] = time.time_ns()


def collect(work: Path, line_cell: list[int]) -> pd.DataFrame:
    """The profiling records, each tagged with its cell's position in the block (_cell)."""
    from ..parse.aiperf import parse_requests

    df = parse_requests(work / AIPERF_DIR, include_warmup=True)
    df["_line"] = df["conversation_id"].map(session_index)
    df = df[df["benchmark_phase"] == "profiling"].copy()
    df["_cell"] = df["_line"].map(lambda i: line_cell[i] if i is not None and 0 <= i < len(line_cell) else -1)
    return df


def client_beside_server_start(cfg: dict, with_energy: bool) -> bool:
    """aiperf may start while the server starts only where nothing is measured before the load: no
    energy (no idle baseline: aiperf's start-up would be in it) and no cool-down (it would warm the
    device). Its imports then overlap the server's start (~2 s a block on 2 cores); its own readiness
    probe holds its services until the server answers."""
    return not with_energy and cfg["cooldown"]["method"] == "none"


def measure(cfg: dict, block: Block, config_path: Path, root: Path, timings: Timings) -> BlockRun:
    """Every step, in order, for the block's cells: one mode, model, server, sampler, aiperf process.
    The server starts as soon as the model's files are known and loads while the tokenizer is built
    and the prompts are written; where nothing is measured before the load, aiperf starts then too."""
    first = block.cells[0]
    stamps: dict[str, int] = {}
    with timings.step("mode"):
        plat, state_before = enter_mode(cfg, first.mode)
    with timings.step("model_files"):
        files = model_files(cfg, first.model, config_path.parent)
    source, reason = resolve_source(cfg, plat.name)
    with_energy = source != "none"
    made = server_backend(cfg, first, root)
    def start_timed() -> Server:
        with timings.step("server_start"):  # its whole start, beside the next steps
            return start_server(cfg, first, files, plat, root, made)

    server_start = ThreadPoolExecutor(1, thread_name_prefix="server-start")
    starting = server_start.submit(start_timed)
    early = None
    try:
        with timings.step("model_and_tokenizer"):
            model = with_tokenizer(cfg, files, config_path.parent)
        with timings.step("prompts"):
            prompts = write_prompts(cfg, block.cells, model, block.work)
        planned = made[0].planned_endpoint(model)
        if planned is not None and client_beside_server_start(cfg, with_energy) and _claimed(made[0], starting):
            say("aiperf starts beside the server (nothing is measured before the load); its readiness probe "
                "reports connection errors until the server is up")
            early = start_load(cfg, planned, prompts.dataset, len(prompts.line_cell), prompts.warm, with_energy,
                               block.work, root, stamps, concurrency=first.concurrency, beside_server_start=True)
        with timings.step("server_ready"):  # what is left of the server's start to wait for
            server = starting.result()
        say(f"server {first.backend} ready at {server.endpoint.url} "
            f"({'reused' if getattr(server.backend, 'reused', False) else 'started'})")
        with timings.step("cooldown"):
            cooldown = cool_down(cfg["cooldown"], plat, say)
        sampler = make_sampler(source, cfg, block.work, pinning.prefix(cfg["pinning"], "telemetry"), reason)
        log_start = server.backend.log_offset()
        with timings.step("idle_baseline"):
            idle_baseline(cfg, sampler, with_energy, stamps)
    except BaseException:
        if early is not None:
            early.process.stop()
        with contextlib.suppress(BaseException):  # a server half-started is left in a known state
            starting.result()
        raise
    finally:
        server_start.shutdown(wait=False)
    started = early or start_load(cfg, server.endpoint, prompts.dataset, len(prompts.line_cell), prompts.warm,
                                  with_energy, block.work, root, stamps, concurrency=first.concurrency)
    load = finish_load(started, server.backend, sampler, log_start, block.work, stamps)
    timings.seconds["aiperf"] = round((stamps["aiperf_end_ns"] - stamps["aiperf_start_ns"]) / 1e9, 3)

    requests = collect(block.work, prompts.line_cell)
    timings.seconds["serving_requests"] = round(float(sum((requests["end_ns"] - requests["start_ns"]) / 1e9)), 3)
    return BlockRun(config_path=config_path, platform=plat, state_before=state_before,
                    state_after=plat.read_state(), model=model, backend=server.backend.provenance(),
                    server=server, cooldown=cooldown, prompts=prompts, load=load, stamps=stamps,
                    requests=requests)


def _claimed(backend: Backend, starting) -> bool:
    """Wait until only the server being started can answer on its port (any other one on it, e.g. a
    previous trial's or model's, stopped first), so that aiperf's probe cannot reach another server.
    False if the start ended without that (its error is raised by its result)."""
    while not backend.port_claimed.wait(0.02):
        if starting.done():
            return backend.port_claimed.is_set()
    return True
