"""The aiperf 0.13 command line for one cell, with exact input and output lengths."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from ..backends.base import Endpoint
from ..errors import CaptureError


def aiperf_binary(configured: str | None = None) -> str:
    if configured:
        return configured
    # prefer the aiperf installed beside this interpreter (the project venv)
    here = Path(sys.executable).parent / "aiperf"
    if here.exists():
        return str(here)
    found = shutil.which("aiperf")
    if not found:
        raise CaptureError("aiperf not found: pip install aiperf==0.13.0 (see README)")
    return found


def aiperf_argv(binary: str, endpoint: Endpoint, tokenizer: str, dataset: Path, sweep: dict,
                artifact_dir: Path, extra_args: list[str] = ()) -> list[str]:
    """`dataset` is a single-turn JSONL of exact-length prompts with `output_length` (prompts.py)."""
    extra_inputs = dict(endpoint.extra_inputs)
    argv = [
        binary, "profile",
        "--model", endpoint.served_model,
        "--url", endpoint.url,
        "--endpoint-type", endpoint.endpoint_type,
        "--streaming",
        "--tokenizer", tokenizer,
        "--input-file", str(dataset),
        "--custom-dataset-type", "single_turn",
        # The prompts come from the file, so aiperf's synthetic corpus is never used; its default
        # (sonnet) is still tokenized at start-up, 1.6 s with gemma3's tokenizer, `random` 0.02 s.
        "--prompt-corpus", "random",
        "--dataset-sampling-strategy", "sequential",
        "--request-count", str(sweep["requests"]),
        "--concurrency", "1",
        "--random-seed", str(sweep["seed"]),
        "--request-timeout-seconds", str(sweep["request_timeout_s"]),
        # ISL/OSL as the server counted them (usage), which the capture then checks exactly
        "--use-server-token-count",
        "--artifact-dir", str(artifact_dir),
        "--export-level", "raw",
        "--no-server-metrics",
        "--no-gpu-telemetry",
        "--ui-type", "simple",
    ]
    if extra_inputs:
        argv += ["--extra-inputs", json.dumps(extra_inputs, sort_keys=True)]
    if endpoint.use_legacy_max_tokens:
        argv.append("--use-legacy-max-tokens")
    if sweep["warmup_requests"]:
        argv += ["--warmup-request-count", str(sweep["warmup_requests"])]
    argv += list(extra_args)
    return argv
