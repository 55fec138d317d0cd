"""A cell's one-row table (its trial row) built without pandas' per-column conversion machinery:
~4x faster for a 240-column row, which matters at 768 cells; and the per-cell tables read back."""
from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _plain(v, na):
    # numpy scalars and pandas NA (`na`) -> Python values that Arrow infers cleanly
    if v is None or v is na:
        return None
    if type(v) in (str, bool, int) or type(v) is float and v == v:  # most of a row: nothing to convert
        return v
    if hasattr(v, "item") and not isinstance(v, bytes):
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return float("nan")
    return v


# The Arrow type Arrow infers for one Python value of these types (an int beyond int64 is the
# exception: the typed conversion refuses it and the row is inferred as before)
_INFERRED = {type(None): pa.null(), bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
_row_types: dict[tuple, pa.DataType] = {}


def row_table(row: dict) -> pa.Table:
    """The row as a one-row table, each column typed as Arrow infers it from its value. Where every
    value is one of _INFERRED's types, one typed struct conversion (~2.5 ms less for a 316-column
    row than one inferred array per column; the same schema and arrays, so the same file bytes)."""
    try:
        import pandas as pd

        na = pd.NA
    except ImportError:
        na = None
    plain = {k: _plain(v, na) for k, v in row.items()}
    signature = tuple((k, type(v)) for k, v in plain.items())
    struct = _row_types.get(signature)
    if struct is None and all(t in _INFERRED for _, t in signature):
        struct = _row_types[signature] = pa.struct([(k, _INFERRED[t]) for k, t in signature])
    if struct is not None:
        try:
            return pa.Table.from_batches([pa.RecordBatch.from_struct_array(pa.array([plain], type=struct))])
        except (OverflowError, pa.ArrowInvalid):
            pass
    return pa.Table.from_pylist([plain])


# dtypes whose pandas metadata depends on the column's name, dtype and Arrow type only (not a
# categorical's categories, a datetime's unit and zone, ...)
_FRAME_DTYPES = {"float64", "int64", "bool", "object", "Int64", "boolean"}
_frame_schemas: dict[tuple, pa.Schema | None] = {}


def frame_table(frame) -> pa.Table:
    """pa.Table.from_pandas(frame, preserve_index=False), ~2 ms faster for a cell's requests: the
    columns converted as from_pandas converts them, under the schema (pandas metadata included)
    from_pandas gave the first frame of the same columns, dtypes and Arrow types; that first
    table is checked equal, metadata included, else that kind of frame always goes through
    from_pandas."""
    columns = [column for _, column in frame.items()]
    dtypes = tuple(str(column.dtype) for column in columns)
    if not set(dtypes) <= _FRAME_DTYPES or frame.columns.name is not None or frame.columns.dtype != object:
        return pa.Table.from_pandas(frame, preserve_index=False)
    try:  # the column's values (a numpy or pandas array): what from_pandas converts, less its overhead
        arrays = [pa.array(column.values, from_pandas=True) for column in columns]
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return pa.Table.from_pandas(frame, preserve_index=False)  # its own error message
    key = (tuple(frame.columns), dtypes, tuple(a.type for a in arrays))
    if key not in _frame_schemas:
        want = pa.Table.from_pandas(frame, preserve_index=False)
        got = pa.Table.from_arrays(arrays, schema=want.schema)
        _frame_schemas[key] = want.schema if got.equals(want, check_metadata=True) else None
        return want
    schema = _frame_schemas[key]
    return pa.Table.from_arrays(arrays, schema=schema) if schema else pa.Table.from_pandas(frame, preserve_index=False)


# A cell's own tables (results/cells/<cell>/*.arrow) are Arrow IPC files: read back ~10x faster
# than one-row Parquet (no page decoding, no metadata thrift), and a pair job reads ~200 of them.
def write_arrow(table: pa.Table, path: str | Path) -> None:
    import pyarrow.feather as feather

    feather.write_feather(table, str(path), compression="uncompressed")


def read_arrow(path: str | Path) -> pa.Table:
    import pyarrow.feather as feather

    return feather.read_table(str(path), memory_map=False)


def frame_of(tables: list[pa.Table]):
    """Tables with different columns (sensors report different rails) as one DataFrame: one
    conversion instead of one per cell."""
    import pandas as pd

    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pd.DataFrame()
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # a column typed differently across cells (e.g. a method name where one cell has NaN for
        # "not measured"): pandas' own concat makes it an object column, as per-cell frames did
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def read_table(path: str | Path):
    """A per-cell Parquet table as a DataFrame: what pd.read_parquet returns, read through one
    ParquetFile instead of pandas' dataset path (~4 ms against ~20 ms for a 246-column row; an
    aggregate of 96 cells reads ~290 of them)."""
    with pq.ParquetFile(path) as f:
        return f.read().to_pandas()


def write_table(frame, path: str | Path) -> None:
    """A whole table (a pair's rows) as Parquet, its folder made if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
