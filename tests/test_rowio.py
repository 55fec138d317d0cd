"""metrics/rowio.row_table: the typed fast path gives exactly the table Arrow infers per column."""
import io
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

import pytest

from joulebench.metrics.rowio import _plain, frame_table, row_table


def inferred(row: dict) -> pa.Table:
    """The reference: one inferred array per column (pa.Table.from_pylist)."""
    return pa.Table.from_pylist([{k: _plain(v, pd.NA) for k, v in row.items()}])


def ipc_bytes(table: pa.Table) -> bytes:
    out = io.BytesIO()
    feather.write_feather(table, out, compression="uncompressed")
    return out.getvalue()


ROWS = [
    # plain values: the typed struct path (NaN stays a value, None a null column)
    {"mode": "7W", "ctx": 512, "x": 1.5, "nan": math.nan, "none": None, "ok": True, "inf": -math.inf},
    # numpy scalars and pandas NA: converted to plain values first
    {"mode": "7W", "ctx": np.int64(512), "x": np.float64(1.5), "nan": np.float32("nan"), "none": pd.NA,
     "ok": np.bool_(False), "inf": 2.0},
    # the same names with other types: another struct type, not the cached one
    {"mode": None, "ctx": 512.0, "x": 1, "nan": "text", "none": 3, "ok": None, "inf": False},
    # a value outside the typed path (a list): inferred as before
    {"mode": "7W", "ctx": 512, "rails": [1.0, 2.0]},
]


def test_row_table_equals_arrows_own_inference():
    for _ in range(2):  # the second time from the cached struct types
        for row in ROWS:
            got, want = row_table(row), inferred(row)
            assert got.schema == want.schema, row
            assert ipc_bytes(got) == ipc_bytes(want), row
    assert row_table(ROWS[0]).schema.field("none").type == pa.null()
    assert math.isnan(row_table(ROWS[0]).column("nan")[0].as_py())


def test_an_int_beyond_int64_is_refused_as_arrow_refuses_it():
    row = {"mode": "7W", "big": 2**63 + 5}
    with pytest.raises(OverflowError):
        inferred(row)
    with pytest.raises(OverflowError):
        row_table(row)


def frames():
    """Frames of the requests tables' dtypes, the same columns with other values (NaN / NA / None
    where the first has values, an all-None object column), and dtypes outside the fast path."""
    base = dict(mode=["7W", "7W"], ctx=np.array([512, 512]), ttft_ms=[12.5, 13.0], cancelled=[False, True],
                error=[None, None], ack_ns=pd.array([1, 2], dtype="Int64"),
                slo_good=pd.array([True, False], dtype="boolean"))
    yield pd.DataFrame(base)
    yield pd.DataFrame({**base, "ttft_ms": [np.nan, 1.0], "ack_ns": pd.array([pd.NA, 3], dtype="Int64"),
                        "slo_good": pd.array([pd.NA] * 2, dtype="boolean")})
    yield pd.DataFrame({**base, "error": ['{"code": 500}', None]})
    yield pd.DataFrame({**base, "mode": [None, None]})
    yield pd.DataFrame({**base, "mode": pd.Categorical(["7W", "15W"])})
    yield pd.DataFrame({**base, "t": pd.to_datetime([1, 2], utc=True)})
    yield pd.DataFrame({**base, "mixed": ["a", 1]})  # from_pandas' own error


def test_frame_table_equals_from_pandas():
    for _ in range(2):  # the second time from the cached schemas
        for frame in frames():
            try:
                want = pa.Table.from_pandas(frame, preserve_index=False)
            except pa.ArrowException as exc:
                with pytest.raises(type(exc)):
                    frame_table(frame)
                continue
            got = frame_table(frame)
            assert got.equals(want, check_metadata=True)
            assert ipc_bytes(got) == ipc_bytes(want)
            pd.testing.assert_frame_equal(got.to_pandas(), frame)
