"""metrics/cell_table.request_derived on numpy gives pandas' own Series.mean / .median bits."""
import math
import warnings

import numpy as np
import pandas as pd

from joulebench.metrics.cell_table import client_decode_tok_s, request_derived


def pandas_reference(df: pd.DataFrame, ctx: int, gen: int) -> dict:
    """The figures as pandas computes them (the code before the numpy version)."""
    osl, isl = df["osl"].astype("float64"), df["isl"].astype("float64")
    out = {
        "n_requests": int(len(df)),
        "n_errors": int(df["error"].notna().sum()),
        "osl_mismatch_pct": float((osl - gen).abs().mean() / gen * 100.0),
        "isl_mismatch_pct": float((isl - ctx).abs().mean() / ctx * 100.0),
        "first_token_minus_ack_ms_p50": float(
            ((df["first_token_ns"].astype("float64") - df["ack_ns"].astype("float64")) / 1e6).median()),
        "client_decode_tok_s_mean": float(client_decode_tok_s(df).mean()),
        "server_decode_tok_s_mean": float(df["server_predicted_per_second"].mean()),
        "server_prefill_tok_s_mean": float(df["server_prompt_per_second"].mean()),
    }
    server = out["server_decode_tok_s_mean"]
    out["client_vs_server_decode_ratio"] = out["client_decode_tok_s_mean"] / server if server > 0 else np.nan
    return out


def random_requests(rng, n: int) -> pd.DataFrame:
    def ints():
        return pd.array([None if rng.random() < 0.2 else int(v) for v in rng.integers(1, 3000, n)], dtype="Int64")

    def floats():  # spread over decades (sums that round), NaN, the odd inf and zero
        v = rng.lognormal(3, 2, n)
        v[rng.random(n) < rng.random() * 0.4] = np.nan
        if n and rng.random() < 0.1:
            v[int(rng.integers(n))] = rng.choice([np.inf, 0.0])
        return v

    stamps = lambda: pd.array([None if rng.random() < 0.1 else int(v)  # noqa: E731
                               for v in rng.integers(10**18, 10**18 + 10**10, n)], dtype="Int64")
    return pd.DataFrame({"osl": ints(), "isl": ints(), "error": [None if rng.random() < 0.8 else "x" for _ in range(n)],
                         "first_token_ns": stamps(), "ack_ns": stamps(), "decode_ms": floats(),
                         "server_predicted_per_second": floats(), "server_prompt_per_second": floats()})


def test_request_derived_equals_pandas_bit_for_bit():
    rng = np.random.default_rng(17)
    for _ in range(400):
        df = random_requests(rng, int(rng.integers(0, 45)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = pandas_reference(df, 512, 128)
        with warnings.catch_warnings():  # ours, unlike pandas, warns of nothing (e.g. a cell of errors only)
            warnings.simplefilter("error")
            got = request_derived(df, 512, 128)
        assert got.keys() == want.keys()
        for k, v in want.items():
            assert got[k] == v or (math.isnan(got[k]) and math.isnan(v)), (k, got[k], v)
