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

    from .rowio import read_table  # pyarrow: here for the same reason
    for name, out in outputs.items():
        tables = [Path(d) / f"{name}.parquet" for d in pair_dirs]
        frames = [(t, f) for t, f in ((t, read_table(t)) for t in tables) if not f.empty]
        df = pd.concat([f for _, f in frames], ignore_index=True) if frames else pd.DataFrame()
        order = [c for c in Cell.columns(df, TABLES[name]) if c in df]
        if order:
            df = df.sort_values(order, kind="stable")
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        text = csv_of_pair_csvs(df, frames)
        df = df.reset_index(drop=True)
        df.to_parquet(out, index=False)
        if text is None:
            df.to_csv(out.with_suffix(".csv"), index=False)
        else:
            out.with_suffix(".csv").write_bytes(text)
    cells = 0
    for d in pair_dirs:
        try:
            cells += int(json.loads((Path(d) / BUILT_FOR).read_text())["cells"])
        except (OSError, ValueError, KeyError, TypeError):
            cells = None
            break
    record = {**record, "cells": cells, "pairs": [Path(d).as_posix() for d in pair_dirs]}
    write_built_for(Path(outputs["summary"]).parent, record)


def csv_of_pair_csvs(df, frames) -> bytes | None:
    """The overall table's CSV put together from the pairs' own CSVs (aggregate_pair writes each
    beside its Parquet), or None where that would not be the bytes `df.to_csv` writes. CSV writing
    was ~60 % of this step, and a re-measured cell changes one pair's CSV only.

    df: the pairs' frames concatenated in `frames` order, then sorted (its index: each row's place
    in the concatenation). Safe when every pair's frame has df's columns and dtypes (to_csv formats
    each value by its column's dtype alone, so a row reads the same in either file) and the sort
    kept each pair's rows together and in order; its CSV must be newer than its Parquet."""
    import numpy as np

    if not frames:
        return None
    columns, dtypes = list(df.columns), list(df.dtypes)
    if any(list(f.columns) != columns or list(f.dtypes) != dtypes for _, f in frames):
        return None
    starts = np.cumsum([0] + [len(f) for _, f in frames])
    position = df.index.to_numpy()
    pair_of = np.searchsorted(starts, position, side="right") - 1
    firsts = np.flatnonzero(np.r_[True, pair_of[1:] != pair_of[:-1]])
    order = pair_of[firsts]
    if len(set(order.tolist())) != len(frames):  # a pair's rows were interleaved with another's
        return None
    expected = np.concatenate([np.arange(starts[k], starts[k + 1]) for k in order])
    if not np.array_equal(position, expected):
        return None
    header = df.head(0).to_csv(index=False).encode()
    bodies = []
    for k in order:
        table = frames[k][0]
        csv = table.with_suffix(".csv")
        try:
            if csv.stat().st_mtime_ns < table.stat().st_mtime_ns:
                return None
            text = csv.read_bytes()
        except OSError:
            return None
        if not text.startswith(header):
            return None
        bodies.append(text[len(header):])
    return header + b"".join(bodies)


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
