"""One-row Parquet tables (cell.parquet, energy.parquet), written without pandas' per-column
conversion machinery: ~4x faster for a 240-column row, which matters at 768 cells."""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _plain(v):
    # numpy scalars and pandas NA -> Python values that Arrow infers cleanly
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:
        pass
    if isinstance(v, float) and math.isnan(v):
        return float("nan")
    return v


def write_row(row: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{k: _plain(v) for k, v in row.items()}])
    pq.write_table(table, path, write_statistics=False)
