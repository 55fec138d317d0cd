"""The overall CSVs put together from the pairs' own CSVs are the bytes pandas would write, and
the slow path is taken wherever they could differ (a dtype that differs between pairs, rows of
two pairs interleaved by the sort, a pair CSV older than its Parquet)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from joulebench.metrics.combine import combine_pairs, csv_of_pair_csvs


def _pair(tmp_path, name, frame):
    d = tmp_path / name
    d.mkdir(parents=True)
    for table in ("summary", "requests", "trials"):
        frame.to_parquet(d / f"{table}.parquet", index=False)
        frame.to_csv(d / f"{table}.csv", index=False)
    return d


def _frame(mode, backend, models, x, note):
    return pd.DataFrame({"mode": mode, "backend": backend, "model": models, "ctx": 512, "gen": 128,
                         "concurrency": 1, "trial": 1, "request_idx": range(len(models)),
                         "x": x, "note": note, "flag": [True, False][: len(models)]})


def _combined(tmp_path, pairs):
    out = {n: tmp_path / "out" / f"{n}.parquet" for n in ("summary", "requests", "trials")}
    combine_pairs(pairs, out, {})
    return {n: p.with_suffix(".csv").read_bytes() for n, p in out.items()}, out


def _sorted_concat(pairs):
    df = pd.concat([pd.read_parquet(p / "summary.parquet") for p in pairs], ignore_index=True)
    return df.sort_values(["mode", "backend", "model", "ctx", "gen", "concurrency"], kind="stable")


def test_pair_csvs_reused_where_the_bytes_agree(tmp_path):
    # config order is not sorted order: the 7W pair comes after the MAXN one once sorted
    pairs = [_pair(tmp_path, "MAXN/llamacpp", _frame("MAXN", "llamacpp", ["b", "a"], [0.1, np.nan], ["p, q", None])),
             _pair(tmp_path, "7W/llamacpp", _frame("7W", "llamacpp", ["a", "c"], [1 / 3, 2.5e-17], ['say "hi"', "x"]))]
    df = _sorted_concat(pairs)
    frames = [(p / "summary.parquet", pd.read_parquet(p / "summary.parquet")) for p in pairs]
    assert csv_of_pair_csvs(df, frames) is None  # MAXN's own rows are re-ordered by the sort: not reusable
    pairs[0] = _pair(tmp_path, "MAXN2/llamacpp", _frame("MAXN", "llamacpp", ["a", "b"], [0.1, np.nan], ["p, q", None]))
    df = _sorted_concat(pairs)
    frames = [(p / "summary.parquet", pd.read_parquet(p / "summary.parquet")) for p in pairs]
    text = csv_of_pair_csvs(df, frames)
    assert text is not None and text == df.reset_index(drop=True).to_csv(index=False).encode()
    written, out = _combined(tmp_path, pairs)
    for name, csv in written.items():
        assert csv == pd.read_parquet(out[name]).to_csv(index=False).encode()
        assert csv.count(b"\n") == 5  # header + 4 rows, each pair once


def test_slow_path_where_dtypes_differ_or_rows_interleave_or_a_csv_is_stale(tmp_path):
    a = _pair(tmp_path, "7W/llamacpp", _frame("7W", "llamacpp", ["a", "b"], [1, 2], ["n", "m"]))  # int x
    b = _pair(tmp_path, "MAXN/llamacpp", _frame("MAXN", "llamacpp", ["a", "b"], [0.5, 1.5], ["n", "m"]))  # float x
    df = _sorted_concat([a, b])
    frames = [(p / "summary.parquet", pd.read_parquet(p / "summary.parquet")) for p in (a, b)]
    assert csv_of_pair_csvs(df, frames) is None  # 1 reads "1" in its pair, "1.0" once concatenated
    written, out = _combined(tmp_path, [a, b])
    assert written["summary"] == pd.read_parquet(out["summary"]).to_csv(index=False).encode()
    assert b"\n7W,llamacpp,a,512,128,1,1,0,1.0," in written["summary"]

    # two "pairs" holding the same mode and backend: the sort interleaves their rows
    c = _pair(tmp_path, "x/one", _frame("7W", "llamacpp", ["a", "c"], [0.5, 1.5], ["n", "m"]))
    d = _pair(tmp_path, "x/two", _frame("7W", "llamacpp", ["b", "d"], [0.5, 1.5], ["n", "m"]))
    df = _sorted_concat([c, d])
    frames = [(p / "summary.parquet", pd.read_parquet(p / "summary.parquet")) for p in (c, d)]
    assert csv_of_pair_csvs(df, frames) is None

    e = _pair(tmp_path, "y/one", _frame("7W", "llamacpp", ["a", "b"], [0.5, 1.5], ["n", "m"]))
    f = _pair(tmp_path, "y/two", _frame("MAXN", "llamacpp", ["a", "b"], [0.5, 1.5], ["n", "m"]))
    df = _sorted_concat([e, f])
    frames = [(p / "summary.parquet", pd.read_parquet(p / "summary.parquet")) for p in (e, f)]
    assert csv_of_pair_csvs(df, frames) is not None
    st = (e / "summary.parquet").stat()
    os.utime(e / "summary.csv", ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))  # a CSV older than its table
    assert csv_of_pair_csvs(df, frames) is None
