"""A block run's files split into self-contained raw cell folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .load import AIPERF_DIR
from .prompts import session_index
from .record import aiperf_version


def cell_files_from_block(work: Path, staging: Path, position: int, line_cell: list[int]) -> None:
    """The cell at `position` in the block: its own records and summary, the block's telemetry linked."""
    from ..parse.aggregate_records import aggregate

    aip = staging / AIPERF_DIR
    aip.mkdir()
    recs = []
    for name in ("profile_export.jsonl", "profile_export_raw.jsonl"):
        src = work / AIPERF_DIR / name
        if not src.exists():
            continue
        with open(src) as fin, open(aip / name, "w") as fout:
            for line in fin:
                rec = json.loads(line)
                meta = rec.get("metadata") or {}
                i = session_index(meta.get("conversation_id"))
                if meta.get("benchmark_phase") == "profiling" and i is not None and line_cell[i] == position:
                    fout.write(line)
                    if name == "profile_export.jsonl":
                        recs.append(rec)
    (aip / "profile_export_aiperf.json").write_text(json.dumps(aggregate(recs, aiperf_version()), indent=1))
    with open(work / "prompts.jsonl") as fin, open(staging / "prompts.jsonl", "w") as fout:
        for i, line in enumerate(fin):
            if line_cell[i] == position:
                fout.write(line)
    # telemetry and the server log excerpt cover the whole block: hard links, read-only, no copies
    for p in work.iterdir():
        if p.is_file() and (p.name.startswith("telemetry") or p.name in ("server.log", "aiperf.log")):
            os.link(p, staging / p.name)
