"""The load step: aiperf sends the block's prompts while the sampler records power; aiperf is
supervised (runtime/clients.py), and a failure is reported with its cause."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..backends.base import Backend, Endpoint
from ..errors import CaptureError
from ..runtime import rundir
from ..runtime.clients import AiperfProcess
from . import adaptive, pinning
from .aiperf_cause import aiperf_failure_cause
from .aiperf_cmd import aiperf_argv, aiperf_binary
from .aiperf_tokenizer import aiperf_tokenizer
from .server_metrics import MetricsScraper

AIPERF_DIR = "aiperf"  # aiperf's artifact folder inside the run's folder


@dataclass
class Load:
    """How the load was sent and what the sampler said about the window."""

    binary: str
    argv: list[str]
    client_prefix: list[str]
    telemetry: dict  # the sampler's summary
    adaptive: dict | None  # sweep.requests: auto: where and why the run stopped


@dataclass
class Started:
    """An aiperf run under way, not yet supervised (see start_load)."""

    process: AiperfProcess
    binary: str
    argv: list[str]
    client_prefix: list[str]
    timeout_s: float
    stopper: adaptive.Stopper | None


# aiperf's own readiness probe when it starts beside the server (start_load): a 1-token request,
# repeated until the server answers below 500. joulebench's own start-up timeout is the one that
# counts (the capture stops aiperf when the server does not come up), so aiperf's is only a bound.
PROBE_INTERVAL_S = 0.2
PROBE_TIMEOUT_S = 3600.0


def start_load(cfg: dict, endpoint: Endpoint, dataset: Path, n_lines: int, warm: int, with_energy: bool,
               work: Path, root: Path, stamps: dict, concurrency: int = 1,
               beside_server_start: bool = False) -> Started:
    """Start aiperf over the dataset with `concurrency` requests in flight.
    beside_server_start: the server is still starting; aiperf imports meanwhile, then waits with its
    own readiness probe before its services start (capture/steps.client_beside_server_start)."""
    sweep = cfg["sweep"]
    aiperf_dir = work / AIPERF_DIR
    binary = aiperf_binary(cfg["aiperf"]["binary"])
    run_sweep = {**sweep, "requests": n_lines - warm}
    # aiperf tokenizes nothing here (file prompts, server token counts): a stand-in, not the model's
    tokenizer, tokenizer_home = aiperf_tokenizer()
    extra = list(cfg["aiperf"]["extra_args"])
    if beside_server_start:
        extra += ["--wait-for-model-timeout", str(PROBE_TIMEOUT_S),
                  "--wait-for-model-interval", str(PROBE_INTERVAL_S), "--wait-for-model-mode", "inference"]
    argv = aiperf_argv(binary, endpoint, tokenizer, dataset, run_sweep, aiperf_dir, extra, concurrency=concurrency)
    client_prefix = pinning.prefix(cfg["pinning"], "client")
    env = dict(os.environ)
    env.update(HF_HOME=str(tokenizer_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    stopper = None
    if adaptive.is_auto(sweep):
        env.update(adaptive.FLUSH_ENV)
        stopper = adaptive.Stopper(aiperf_dir / "profile_export.jsonl", adaptive.Precision.from_config(sweep),
                                   with_energy=with_energy)
    stamps["aiperf_start_ns"] = time.time_ns()
    process = AiperfProcess([*client_prefix, *argv], env, work / "aiperf.log", rundir.clients_dir(root))
    timeout = n_lines * float(sweep["request_timeout_s"]) + 300  # counted from finish_load
    return Started(process, binary, argv, client_prefix, timeout, stopper)


def finish_load(started: Started, backend: Backend, sampler, log_start: int, work: Path, stamps: dict) -> Load:
    """Supervise the started aiperf to its end while the server's /metrics is scraped
    (server_metrics.py). The sampler stops, the scrape stops and the server log since log_start is
    kept whatever happens; a failure is reported with its cause."""
    aiperf_dir = work / AIPERF_DIR
    scraper = MetricsScraper(*backend.metrics_url(), out_dir=work)
    try:
        scraper.start()
        rc = started.process.supervise(backend, started.timeout_s, on_tick=started.stopper)
    except BaseException:
        started.process.stop()
        raise
    finally:
        stamps["aiperf_end_ns"] = time.time_ns()
        scraper.stop()
        telemetry = sampler.stop()
        stamps["telemetry_stop_ns"] = time.time_ns()
        excerpt = backend.log_excerpt(log_start)
        if excerpt:
            (work / "server.log").write_bytes(excerpt)
    # a server that died under aiperf is the cause to report (with its log tail), not aiperf's exit
    backend.check_alive()
    if rc != 0:
        cause = aiperf_failure_cause(aiperf_dir / "profile_export.jsonl", work / "aiperf.log", work / "server.log")
        raise CaptureError(f"aiperf exited with code {rc}" + (f": {cause}" if cause else ""))
    return Load(binary=started.binary, argv=started.argv, client_prefix=started.client_prefix, telemetry=telemetry,
                adaptive=started.stopper.summary() if started.stopper else None)


def run_load(cfg: dict, backend: Backend, endpoint: Endpoint, dataset: Path, n_lines: int,
             warm: int, sampler, with_energy: bool, log_start: int, work: Path, root: Path,
             stamps: dict, concurrency: int = 1) -> Load:
    """aiperf over the dataset, started and supervised (the server already up, the sampler running)."""
    started = start_load(cfg, endpoint, dataset, n_lines, warm, with_energy, work, root, stamps, concurrency)
    return finish_load(started, backend, sampler, log_start, work, stamps)
