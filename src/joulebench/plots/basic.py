"""First figures: latency and throughput vs prompt length, one line per (mode, backend, model, gen).

Each PNG has its data table beside it (CSV + Markdown) so every plotted value can be checked.
A missing cell is a gap in a line (NaN), never a zero.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

METRICS = [
    ("output_tok_s_per_user_avg", "output tok/s per user (avg)", "tok_s_vs_prompt"),
    ("ttft_ms_p50", "TTFT p50 (ms)", "ttft_vs_prompt"),
    ("itl_ms_p50", "ITL p50 (ms)", "itl_vs_prompt"),
    ("latency_ms_p50", "request latency p50 (ms)", "request_latency_vs_prompt"),
    ("prefill_tok_s_per_user_p50", "prefill tok/s per user p50", "prefill_tok_s_vs_prompt"),
]


def series_table(summary: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows = prompt length, columns = series 'mode/backend/model gen=N'."""
    s = summary.copy()
    s["series"] = s["mode"] + "/" + s["backend"] + "/" + s["model"] + " gen=" + s["gen"].astype(str)
    return s.pivot_table(index="ctx", columns="series", values=column, aggfunc="first").sort_index()


def write_table(df: pd.DataFrame, base: Path) -> None:
    df.to_csv(base.with_suffix(".csv"))
    base.with_suffix(".md").write_text(df.to_markdown(floatfmt=".2f") + "\n")


def title_suffix(cfg: dict) -> str:
    label = (cfg.get("figures") or {}).get("synthetic_label")
    return f"\n{label}" if label else ""


def render_basic(summary: pd.DataFrame, requests: pd.DataFrame, out: Path, cfg: dict) -> list[Path]:
    written = []
    for column, label, name in METRICS:
        if column not in summary or summary.empty:
            continue
        table = series_table(summary, column)
        fig, ax = plt.subplots(figsize=(9, 5.5))
        for series in table.columns:
            ax.plot(table.index, table[series], marker="o", label=series)
        ax.set_xlabel("prompt length (tokens)")
        ax.set_ylabel(label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(table.index), [str(v) for v in table.index])
        ax.set_title(f"{label} vs prompt length{title_suffix(cfg)}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        png = out / f"{name}.png"
        fig.savefig(png, dpi=120, bbox_inches="tight")
        plt.close(fig)
        write_table(table, out / name)
        written.append(png)
    return written
