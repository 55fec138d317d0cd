"""The one definition of results/summary.parquet (and requests/trials.parquet beside it): the
pair summaries results/<mode>/<backend>/ of the config the run uses, put together row for row.

So the overall summary never holds a pair's cells other than its pair summary does: a run with
another config (`snakemake figures --configfile other.yaml`) rebuilds that config's pairs first,
then the summary from them. Each of them records the config it was built with (BUILT_FOR), and
pair folders on disk that the config does not name are left out and listed (stray_pairs)."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import Cell
from ..paths import (
    BENCHMARKS,
    CELLS,
    FIGURES,
    INCOMPLETE,
    LOGS,
    RAW,
    RESULTS,
    RUN_STATE,
    SUMMARY,
    SUPERSEDED,
)

# folders under results/ that hold a run's own files, never a (mode, backend) pair
RUN_FOLDERS = (RAW, CELLS, LOGS, FIGURES, RUN_STATE, BENCHMARKS, INCOMPLETE, SUPERSEDED)

BUILT_FOR = "built_for.json"
TABLES = {"summary": Cell.KEY, "requests": (*Cell.ROW, "request_idx"), "trials": Cell.ROW}


def built_for(config_file, config_hash: str, cells: int | None = None) -> dict:
    return {"config_file": str(Path(config_file).resolve()), "config_hash": config_hash, "cells": cells}


def write_built_for(folder, record: dict) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / BUILT_FOR).write_text(json.dumps(record, indent=1) + "\n")


def combine_pairs(pair_dirs, outputs: dict, record: dict) -> None:
    """outputs: {"summary": path, "requests": path, "trials": path}; each table is the rows of
    every pair's table of that name (sorted by cell), written as Parquet and CSV."""
    import pandas as pd  # here: rules/common.smk imports this module, and every snakemake call parses it
    for name, out in outputs.items():
        frames = [pd.read_parquet(Path(d) / f"{name}.parquet") for d in pair_dirs]
        frames = [f for f in frames if not f.empty]
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        order = [c for c in Cell.columns(df, TABLES[name]) if c in df]
        if order:
            df = df.sort_values(order, kind="stable").reset_index(drop=True)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out, index=False)
        df.to_csv(out.with_suffix(".csv"), index=False)
    cells = 0
    for d in pair_dirs:
        try:
            cells += int(json.loads((Path(d) / BUILT_FOR).read_text())["cells"])
        except (OSError, ValueError, KeyError, TypeError):
            cells = None
            break
    record = {**record, "cells": cells, "pairs": [Path(d).as_posix() for d in pair_dirs]}
    write_built_for(Path(outputs["summary"]).parent, record)


def stray_pairs(results: Path, pairs) -> list[tuple[str, dict]]:
    """Pair folders under results/ that the config does not name (built for another config):
    (folder, its BUILT_FOR record or {})."""
    wanted = {f"{p}" for p in pairs}
    out = []
    # (mode, backend) pairs, and a fleet's (device, mode, backend) ones
    found = [*Path(results).glob("*/*/summary.parquet"), *Path(results).glob("*/*/*/summary.parquet")]
    for summary in sorted(found):
        pair = summary.parent.relative_to(results).as_posix()
        if pair in wanted or f"{RESULTS}/{pair.split('/')[0]}" in RUN_FOLDERS:
            continue
        try:
            record = json.loads((summary.parent / BUILT_FOR).read_text())
        except (OSError, ValueError):
            record = {}
        out.append((f"{Path(results).as_posix()}/{pair}", record))
    return out


def stray_note(strays, limit: int = 5) -> str:
    if not strays:
        return ""
    lines = [f"    {d}" + (f" (built with {r['config_file']}, config hash {r['config_hash']})"
                          if r.get("config_file") else "") for d, r in strays[:limit]]
    more = [f"    ... and {len(strays) - limit} more"] if len(strays) > limit else []
    return ("joulebench: pair summaries on disk that this config does not name are not part of "
            f"{SUMMARY}:\n" + "\n".join(lines + more))
