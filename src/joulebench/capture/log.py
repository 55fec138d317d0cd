"""The capture's progress lines on stderr (Snakemake shows them with the job)."""
from __future__ import annotations

import sys
import time


def say(msg: str) -> None:
    print(f"[joulebench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
