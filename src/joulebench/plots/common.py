"""What every figure module shares: the ordered view of the results, derived columns, saving,
placeholders and the index of everything written.

Rules kept everywhere:
* modes / backends / models / prompt and generation lengths come from the data, ordered by the
  config where it names them;
* a missing cell is NaN (a gap in a line, an absent bar), never a zero;
* a chart with no finite value is replaced by a small placeholder PNG and listed with its reason;
* each PNG has its plotted values beside it as CSV + Markdown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..config import canonical_cell
from ..platforms import mode_order
from . import placeholders, style
from .uncertainty import attach, request_cis, summary_intervals

SYNTHETIC_DEFAULT = "SYNTHETIC DATA"
PLACEHOLDER_DPI = 90

# key -> (column, axis label, higher is better)
METRICS = {
    "tok_s": ("output_tok_s_per_user_p50", "output tok/s per user (p50)", True),
    "tok_j": ("decode_tok_per_j", "output tok/J (decode phase)", True),
    "prefill_tok_j": ("prefill_tok_per_j", "prefill tok/J", True),
    "decode_tok_j": ("decode_tok_per_j", "decode tok/J", True),
    "total_tok_j": ("total_tok_per_j", "total tok/J ((ISL+OSL) / request J)", True),
    "seed_tok_j": ("seed_tok_per_j", "tok/J, seed method (tok/s avg / median W)", True),
    "seed_decode_tok_j": ("seed_decode_tok_per_j", "output tok/J, seed method (OSL / (median decode W x p50 decode s))",
                          True),
    "seed_total_tok_j": ("seed_total_tok_per_j", "total tok/J, seed method", True),
    "seed_p_decode": ("seed_p_decode_w", "decode power, seed method (median of decode-window samples, W)", False),
    "ttft": ("ttft_ms_p50", "TTFT p50 (ms)", False),
    "itl": ("itl_ms_p50", "ITL p50 (ms)", False),
    "rl": ("latency_ms_p50", "request latency p50 (ms)", False),
    "prefill_tput": ("prefill_tok_s_per_user_p50", "prefill tok/s per user (p50)", True),
    "decode_time": ("decode_time_ms", "decode time p50 (RL p50 - TTFT p50, ms)", False),
    "power": ("power_w_seed_median", "power, whole-window median (W)", False),
    "p_active": ("p_active_w", "active power, energy / active time (W)", False),
    "p_prefill": ("p_prefill_w", "prefill power (W)", False),
    "p_decode": ("p_decode_w", "decode power (W)", False),
    "e_total": ("e_request_j", "energy per request (J)", False),
    "mj_tok": ("mj_per_output_token", "mJ per output token (decode)", False),
    "tj_peak": ("temp_tj_peak_c", "peak TJ (°C)", False),
    # under load (the concurrency axis)
    "steady_tok_j": ("steady_tok_per_j", "steady-state output tok/J (all slots busy)", True),
    "system_tok_s": ("system_output_tok_s", "system output tok/s (all users)", True),
    "goodput_fraction": ("goodput_fraction", "share of requests within the SLO", True),
    "e_good_token": ("energy_per_good_token_j", "J per good output token", False),
}
# columns measured on a power rail: their axis labels and captions name the rail
REF_METHOD_COLUMNS = {"seed_tok_per_j", "seed_decode_tok_per_j", "seed_prefill_tok_per_j", "seed_total_tok_per_j",
                     "seed_p_prefill_w", "seed_p_decode_w", "power_w_seed_median"}
RAIL_COLUMNS = REF_METHOD_COLUMNS | {"decode_tok_per_j", "prefill_tok_per_j", "total_tok_per_j", "p_prefill_w",
                                    "p_decode_w", "p_active_w", "e_total_j", "e_request_j", "e_prefill_j", "e_decode_j",
                                    "mj_per_output_token", "steady_tok_per_j", "energy_per_good_token_j"}


def rails_named(summary: pd.DataFrame, column: str) -> str:
    """The rail(s) a summary column holds, comma-joined ('' where the summary does not say)."""
    if column not in summary:
        return ""
    return ", ".join(sorted({str(v) for v in summary[column].dropna().unique() if str(v)}))


def _truthy(v) -> bool:
    try:
        return bool(v) and not pd.isna(v)
    except (TypeError, ValueError):
        return bool(v)


def synthetic_label(summary: pd.DataFrame, cfg: dict) -> str | None:
    label = (cfg.get("figures") or {}).get("synthetic_label")
    if label:
        return str(label)
    if "synthetic" in summary and summary["synthetic"].map(_truthy).any():
        return SYNTHETIC_DEFAULT
    if "model_source" in summary and summary["model_source"].astype(str).str.contains("synthetic", case=False).any():
        return SYNTHETIC_DEFAULT
    return None


def measured_platform(summary: pd.DataFrame, cfg: dict) -> str | None:
    """The platform the cells were measured on: the config's, else the one the summary names."""
    named = cfg.get("platform")
    if named and named != "auto":
        return named
    found = summary["platform"].dropna().unique() if "platform" in summary else []
    return str(found[0]) if len(found) == 1 else None


def _ordered(present, preferred) -> list:
    present = list(dict.fromkeys(present))
    head = [p for p in (preferred or []) if p in present]
    return head + [p for p in present if p not in head]


@dataclass
class Entry:
    name: str
    kind: str  # figure | table
    what: str
    how: str
    reference: str = ""  # the reference study's (seed report's) equivalent
    status: str = "ok"
    reason: str = ""
    files: list = field(default_factory=list)


class ResultsView:
    def __init__(self, summary: pd.DataFrame, requests: pd.DataFrame | None, out: Path, cfg: dict | None,
                 n_boot: int = 500, kept=None):
        self.cfg = cfg or {}
        self.kept = kept  # reuse.KeptFigures: a chart's PNG copied where the chart is unchanged
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        s = summary.copy()
        for c in ("ctx", "gen"):
            if c in s:
                s[c] = s[c].astype(int)
        if {"latency_ms_p50", "ttft_ms_p50"} <= set(s.columns):
            s["decode_time_ms"] = s["latency_ms_p50"] - s["ttft_ms_p50"]
        if {"e_total_j", "energy_coverage", "n_requests"} <= set(s.columns):
            # e_total_j is summed over the requests telemetry covered: the mean request's energy divides it
            covered = pd.to_numeric(s["energy_coverage"], errors="coerce") * pd.to_numeric(s["n_requests"], errors="coerce")
            s["e_request_j"] = pd.to_numeric(s["e_total_j"], errors="coerce") / covered.where(covered > 0)
        # every figure but the concurrency ones shows one load level: the lowest measured (1: one request
        # at a time), so a (mode, backend, model, ctx, gen) point stays one row; rows from before the
        # concurrency axis ran one request at a time
        if "concurrency" in s:
            s["concurrency"] = pd.to_numeric(s["concurrency"], errors="coerce").fillna(1).astype(int)
        self.concurrencies = sorted(s["concurrency"].unique().tolist()) if "concurrency" in s else [1]
        self.base_concurrency = self.concurrencies[0] if self.concurrencies else 1
        requests = requests if requests is not None else pd.DataFrame()
        every_level = s
        if "concurrency" in s:
            s = s[s["concurrency"] == self.base_concurrency]
            if "concurrency" in requests:
                level = pd.to_numeric(requests["concurrency"], errors="coerce").fillna(1)
                requests = requests[level == self.base_concurrency]
        self.requests = requests
        # the summary's own 95 % intervals where it has them; a bootstrap over requests only for the rest
        self.summary = attach(s, request_cis(self.requests, n_boot=n_boot, skip=summary_intervals(s)))
        self.summary_all = attach(every_level, pd.DataFrame()) if "concurrency" in every_level else self.summary
        s = every_level  # what was measured at any level names the modes, models, lengths
        # modes from least to most power, as the platform orders them (config order where unknown)
        self.platform = measured_platform(s, self.cfg)
        mode_cfg = self.cfg.get("modes") or {}
        present = _ordered(s["mode"], list(mode_cfg))
        self.modes = mode_order(self.platform, {m: mode_cfg.get(m) or {} for m in present})
        # the reference backend (figures.reference_backend, else the config's first) leads every ratio
        # (reference ÷ other) and names its mode-series by the mode alone
        backends = _ordered(s["backend"], list((self.cfg.get("backends") or {}).keys()))
        wanted = (self.cfg.get("figures") or {}).get("reference_backend")
        self.backends = _ordered(backends, [wanted] if wanted else [])
        models = _ordered(s["model"], list((self.cfg.get("models") or {}).keys()))
        if not self.cfg.get("models") and "params_m" in s:
            size = s.groupby("model")["params_m"].first().to_dict()
            models = sorted(models, key=lambda m: (pd.isna(size.get(m)), size.get(m) or 0))
        self.models = models
        self.ctxs = sorted(s["ctx"].unique().tolist())
        self.gens = sorted(s["gen"].unique().tolist())
        # the config's canonical cell if the data has it, else the data's largest
        self.canonical = canonical_cell(self.cfg.get("sweep") or {}, self.ctxs, self.gens)
        self.label = synthetic_label(s, self.cfg)
        self.model_colour = style.model_colours(self.models)
        self.entries: list[Entry] = []
        self.ref_backend = self.backends[0] if self.backends else None
        self.energy_rail = rails_named(s, "energy_rail")
        # seed_* columns of summaries written before `seed_rail` existed were computed on the energy rail
        self.ref_rail = rails_named(s, "seed_rail") or self.energy_rail
        self.metrics = {k: (c, self.rail_label(c, label), hib) for k, (c, label, hib) in METRICS.items()}

    def rail_of(self, column: str) -> str:
        """The rail a power / energy column was measured on ('' for other columns or when unknown)."""
        if column not in RAIL_COLUMNS:
            return ""
        return self.ref_rail if column in REF_METHOD_COLUMNS else self.energy_rail

    def rail_label(self, column: str, label: str) -> str:
        rail = self.rail_of(column)
        return f"{label} [{rail}]" if rail else label

    # ---- naming ---------------------------------------------------------------------------
    def series(self):
        """(mode, backend, name) for every mode-series in the seed's order: reference backend first."""
        return [(m, b, style.series_name(m, b, self.backends)) for b in self.backends for m in self.modes]

    def sstyle(self, mode, backend):
        return style.series_style(mode, backend, self.modes, self.backends)

    def title(self, text: str) -> str:
        return f"{text}\n{self.label}" if self.label else text

    def col(self, key: str) -> str:
        return self.metrics[key][0]

    def has(self, column: str, df: pd.DataFrame | None = None) -> bool:
        df = self.summary if df is None else df
        return column in df and pd.to_numeric(df[column], errors="coerce").notna().any()

    def cell(self, prompt=None, gen=None) -> pd.DataFrame:
        s = self.summary
        if prompt is not None:
            s = s[s["ctx"] == prompt]
        if gen is not None:
            s = s[s["gen"] == gen]
        return s

    # ---- writing --------------------------------------------------------------------------
    def save(self, fig, name: str, data: pd.DataFrame | None, what: str, how: str, reference: str = "") -> Path:
        png = self.out / f"{name}.png"
        savefig = {"dpi": (self.cfg.get("figures") or {}).get("dpi", style.DPI), "bbox_inches": "tight", **style.PNG}
        if self.kept is not None:
            self.kept.save(fig, png, **savefig)
        else:
            fig.savefig(png, **savefig)
        plt.close(fig)
        files = [png.name]
        if data is not None:
            files += write_table(data, self.out / name)
        self.entries.append(Entry(name, "figure", what, how, reference, files=files))
        return png

    def placeholder(self, name: str, reason: str, what: str, how: str = "", reference: str = "") -> Path:
        texts = (name, f"not drawn: {reason}", self.label or "")

        def draw(path: Path) -> None:
            fig, artists = self._placeholder_canvas()
            for artist, text in zip(artists, texts):
                artist.set_text(text)
            fig.savefig(path, dpi=PLACEHOLDER_DPI, **style.PNG)

        png = placeholders.write(self.out / f"{name}.png", texts, PLACEHOLDER_DPI, draw)
        self.entries.append(Entry(name, "figure", what, how, reference, status="no data", reason=reason, files=[png.name]))
        return png

    def _placeholder_canvas(self):
        """One figure for every "not drawn" PNG, only its texts changed (a default sweep has ~45)."""
        if getattr(self, "_placeholder", None) is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(4.5, 1.6))
            ax = fig.add_subplot()
            ax.axis("off")
            texts = (ax.text(0.5, 0.62, "", ha="center", va="center", fontsize=8, weight="bold"),
                     ax.text(0.5, 0.3, "", ha="center", va="center", fontsize=8, wrap=True),
                     ax.text(0.5, 0.05, "", ha="center", va="center", fontsize=7, color="red"))
            self._placeholder = (fig, texts)
        return self._placeholder

    def table(self, df: pd.DataFrame, name: str, what: str, how: str, reference: str = "", reason: str = "") -> list:
        status = "ok" if not df.empty else "no data"
        files = write_table(df, self.out / name, index=False)
        self.entries.append(Entry(name, "table", what, how, reference, status=status, reason=reason, files=files))
        return files

    def write_index(self, provenance: dict) -> Path:
        lines = ["# Figures and tables", ""]
        if self.label:
            lines += [f"**{self.label}** — every figure and table here is built from synthetic data.", ""]
        lines += ["## Provenance", ""]
        for k, v in provenance.items():
            lines.append(f"* **{k}**: {v}")
        lines += ["", "## Index", "",
                  "| name | kind | status | shows | how computed | reference-study equivalent | files |",
                  "|---|---|---|---|---|---|---|"]
        for e in self.entries:
            status = e.status if not e.reason else f"{e.status}: {e.reason}"
            lines.append(f"| {e.name} | {e.kind} | {status} | {e.what} | {e.how} | {e.reference} | "
                         f"{', '.join(e.files)} |")
        path = self.out / "index.md"
        path.write_text("\n".join(lines) + "\n")
        idx = pd.DataFrame([e.__dict__ for e in self.entries], columns=list(Entry.__dataclass_fields__))
        idx["files"] = idx["files"].map(";".join)
        idx.to_csv(self.out / "index.csv", index=False)
        prov = pd.DataFrame(list(provenance.items()), columns=["item", "value"])
        html = ["<html><head><meta charset='utf-8'><title>joulebench figures index</title></head><body>",
                "<h1>joulebench figures and tables</h1>"]
        if self.label:
            html.append(f"<p style='color:red'><b>{self.label}</b>: built from synthetic data.</p>")
        html += ["<h2>Provenance</h2>", prov.to_html(index=False), "<h2>Index</h2>", idx.to_html(index=False),
                 "</body></html>"]
        (self.out / "index.html").write_text("\n".join(html))
        return path


def long_table(view: ResultsView, column: str, prompt: int | None = None, gen: int | None = None,
               along: str | None = None) -> pd.DataFrame:
    """The one builder behind every line and bar chart: one row per model x mode-series (x each
    prompt or generation length or concurrency when `along` is 'ctx' / 'gen' / 'concurrency') with value, lo, hi of `column` at the
    fixed prompt / gen. A missing cell is a NaN row (a gap, never a zero)."""
    s = view.summary_all if along == "concurrency" else view.summary
    fixed = {"ctx": prompt, "gen": gen}
    keys = ["model", "mode", "backend"] + ([along] if along else [])
    cols = [c for c in (column, f"{column}_lo", f"{column}_hi") if c in s]
    # only the columns used, before any row is selected: selecting and de-duplicating rows of the whole
    # summary (~400 columns) boxed every column, ~20 ms of every chart's table
    s = s[list(dict.fromkeys(keys + [k for k, v in fixed.items() if v is not None and k != along] + cols))]
    for key, v in fixed.items():
        if v is not None and key != along:
            s = s[s[key] == v]
    xs = {"ctx": view.ctxs, "gen": view.gens, "concurrency": view.concurrencies}[along] if along else [None]
    rows = [(model, mode, backend, name) + ((x,) if along else ())
            for model in view.models for mode, backend, name in view.series() for x in xs]
    frame = pd.DataFrame(rows, columns=["model", "mode", "backend", "series"] + ([along] if along else []))
    values = s.drop_duplicates(keys).set_index(keys)[cols].apply(pd.to_numeric, errors="coerce")
    values = values.reindex(pd.MultiIndex.from_frame(frame[keys])).reset_index(drop=True)
    for k, v in fixed.items():
        if k != along:
            frame[k] = v
    frame["value"] = values[column] if column in values else np.nan
    frame["lo"] = values[f"{column}_lo"] if f"{column}_lo" in values else np.nan
    frame["hi"] = values[f"{column}_hi"] if f"{column}_hi" in values else np.nan
    return frame


def rows_by(data: pd.DataFrame, keys: list[str], along: str, xs):
    """A lookup (key values...) -> data's rows with those values, indexed by `along` and reindexed
    to `xs` (an x without a row: a NaN row; key values without rows: all NaN). One groupby instead
    of a boolean mask over the whole table per series (the seed-scale plot job: 50.0 -> 49.2 s)."""
    empty = data.iloc[:0].set_index(along).reindex(xs)
    groups = {k: g.set_index(along).reindex(xs) for k, g in data.groupby(keys, sort=False)}
    return lambda *key: groups.get(key, empty)


def write_table(df: pd.DataFrame, base: Path, index: bool = False) -> list[str]:
    df.to_csv(base.with_suffix(".csv"), index=index)
    try:
        md = df.to_markdown(index=index, floatfmt=".3g")
    except ImportError:  # pragma: no cover - tabulate missing
        md = df.to_string(index=index)
    base.with_suffix(".md").write_text(md + "\n")
    return [base.with_suffix(".csv").name, base.with_suffix(".md").name]


def fleet_provenance(s: pd.DataFrame) -> dict:
    """A fleet's devices, each with its hardware, host and configured settings (none without one)."""
    from ..config import Cell

    if Cell.DEVICE not in s:
        return {}
    out = {}
    for name, rows in s.groupby(Cell.DEVICE):
        what = {c: ", ".join(sorted({str(v) for v in rows[c].dropna()}))
                for c in ("device", "host", "platform", "fleet_device_config") if c in rows}
        out[f"fleet device {name}"] = "; ".join(f"{k}: {v}" for k, v in what.items())
    return out


def provenance(view: ResultsView) -> dict:
    s = view.summary
    first = lambda c: ", ".join(sorted({str(v) for v in s[c].dropna().unique()})) if c in s else "n/a"  # noqa: E731
    mif = {}
    if "mode_in_force" in s:
        for m, v in s.groupby("mode")["mode_in_force"].first().items():
            try:
                mif[m] = json.loads(v) if isinstance(v, str) else v
            except ValueError:
                mif[m] = v
    return {
        "cells": f"{len(s)} ({len(view.modes)} modes x {len(view.backends)} backends x {len(view.models)} models x "
                 f"{len(view.ctxs)} prompts x {len(view.gens)} gens)",
        "modes": ", ".join(view.modes), "backends": ", ".join(view.backends), "models": ", ".join(view.models),
        "prompt lengths": ", ".join(map(str, view.ctxs)), "generation lengths": ", ".join(map(str, view.gens)),
        "canonical cell": f"ctx {view.canonical[0]}, gen {view.canonical[1]}",
        "platform": first("platform"), "device": first("device"),
        **fleet_provenance(s),
        "backend versions": first("backend_version"), "llama.cpp build": first("llama_cpp_build"),
        "aiperf": first("aiperf_version"), "joulebench": first("joulebench_version"),
        "energy method": first("energy_method"), "energy reason": first("energy_reason"),
        "energy rail (joulebench columns)": view.energy_rail or "n/a",
        "seed-method rail (seed_* columns, power_w_seed_median)": view.ref_rail or "n/a",
        "reference backend (ratios are reference ÷ other)": view.ref_backend,
        "modes in force": json.dumps(mif, default=str)[:800],
        "captured": f"{s['captured_at'].min()} .. {s['captured_at'].max()}" if "captured_at" in s else "n/a",
    }


def finite(values) -> bool:
    return bool(np.isfinite(pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)).any())
