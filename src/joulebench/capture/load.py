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
from ..runtime.clients import run_aiperf
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


def run_load(cfg: dict, backend: Backend, endpoint: Endpoint, dataset: Path, n_lines: int,
             warm: int, sampler, with_energy: bool, log_start: int, work: Path, root: Path,
             stamps: dict, concurrency: int = 1) -> Load:
    """Run aiperf over the dataset with `concurrency` requests in flight; the server's /metrics is
    scraped meanwhile (server_metrics.py). The sampler stops, the scrape stops and the server log
    since log_start is kept whatever happens."""
    sweep = cfg["sweep"]
    aiperf_dir = work / AIPERF_DIR
    binary = aiperf_binary(cfg["aiperf"]["binary"])
    run_sweep = {**sweep, "requests": n_lines - warm}
    # aiperf tokenizes nothing here (file prompts, server token counts): a stand-in, not the model's
    tokenizer, tokenizer_home = aiperf_tokenizer()
    argv = aiperf_argv(binary, endpoint, tokenizer, dataset, run_sweep, aiperf_dir,
                       cfg["aiperf"]["extra_args"], concurrency=concurrency)
    client_prefix = pinning.prefix(cfg["pinning"], "client")
    env = dict(os.environ)
    env.update(HF_HOME=str(tokenizer_home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    timeout = n_lines * float(sweep["request_timeout_s"]) + 300
    stopper = None
    if adaptive.is_auto(sweep):
        env.update(adaptive.FLUSH_ENV)
        stopper = adaptive.Stopper(aiperf_dir / "profile_export.jsonl", adaptive.Precision.from_config(sweep),
                                   with_energy=with_energy)
    scraper = MetricsScraper(*backend.metrics_url(), out_dir=work)
    scraper.start()
    stamps["aiperf_start_ns"] = time.time_ns()
    try:
        rc = run_aiperf([*client_prefix, *argv], env, work / "aiperf.log", backend, timeout,
                        rundir.clients_dir(root), on_tick=stopper)
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
    return Load(binary=binary, argv=argv, client_prefix=client_prefix, telemetry=telemetry,
                adaptive=stopper.summary() if stopper else None)
