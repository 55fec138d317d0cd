"""Helpers the Snakemake rules call at DAG time."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .paths import SUPERSEDED


def missing_cells_table(cells, is_captured, limit: int = 40) -> str:
    """A short table of what a run would capture: per (mode, backend, model), missing/total; on a
    fleet the mode column reads `device/mode`."""
    from .paths import device_tag

    def group(c):
        return (device_tag(c.device) + c.mode, c.backend, c.model)

    total = Counter(group(c) for c in cells)
    missing = [c for c in cells if not is_captured(c)]
    miss = Counter(group(c) for c in missing)
    lines = [f"joulebench: {len(missing)} of {len(cells)} cells not captured yet"]
    if not missing:
        return lines[0]
    w_mode = max(4, *(len(k[0]) for k in total))
    w_back = max(7, *(len(k[1]) for k in total))
    w_model = max(5, *(len(k[2]) for k in total))
    lines.append(f"  {'mode':<{w_mode}}  {'backend':<{w_back}}  {'model':<{w_model}}  missing  cells (ctx x gen[@concurrency][#trial])")
    shown = 0
    for key in total:
        if not miss.get(key):
            continue
        if shown >= limit:
            lines.append(f"  ... and {len([k for k in miss if miss[k]]) - shown} more groups")
            break
        these = [c for c in missing if group(c) == key]
        cells_txt = " ".join(f"{c.ctx}x{c.gen}" + (f"@{c.concurrency}" if c.concurrency > 1 else "")
                             + (f"#{c.trial}" if c.trial > 1 else "") for c in these[:8]) + (
            " ..." if len(these) > 8 else "")
        lines.append(
            f"  {key[0]:<{w_mode}}  {key[1]:<{w_back}}  {key[2]:<{w_model}}  {miss[key]:>3}/{total[key]:<3}  {cells_txt}"
        )
        shown += 1
    return "\n".join(lines)


def measured_with_other_settings(cells, cfg: dict, marker_of) -> list:
    """Captured cells whose recorded cell_settings_hash differs from what the config now gives
    them (requests, mode, backend or model settings edited after the capture). They are kept as
    they are: Snakemake sees their output and has nothing to do."""
    from .config import cell_settings_hash

    out = []
    for cell in cells:
        try:
            recorded = json.loads(Path(marker_of(cell)).read_text()).get("cell_settings_hash")
        except (OSError, ValueError, AttributeError):
            continue
        if recorded and recorded != cell_settings_hash(cfg, cell):
            out.append(cell)
    return out


def other_settings_note(changed, marker_of, limit: int = 5) -> str:
    """What to tell the user about cells measured with other settings, and how to re-measure."""
    if not changed:
        return ""
    shown = "\n".join(f"    {marker_of(c)}" for c in changed[:limit])
    more = f"\n    ... and {len(changed) - limit} more" if len(changed) > limit else ""
    return (f"joulebench: {len(changed)} captured cells were measured with other settings than the config "
            f"now gives them (kept; the analysis uses them as measured):\n{shown}{more}\n"
            "  to measure them again: snakemake --cores 1 -f PATH/cell.json ... (or a target with "
            f"--forcerun capture for all its cells); the earlier captures move whole to {SUPERSEDED}/")


def full_job_list(argv) -> bool:
    """Whether a dry run should list every job: asked for with -p/--printshellcmds (or a --quiet or
    --verbose of the user's own) on the command line. Otherwise it prints the missing-cells table
    and Snakemake's job counts: a 768-cell sweep's job list is ~25,000 lines."""
    for arg in argv:
        if arg in ("--printshellcmds", "--quiet", "--verbose") or arg.startswith("--quiet="):
            return True
        if arg.startswith("-") and not arg.startswith("--") and ("p" in arg[1:] or "q" in arg[1:]):
            return True
    return False


def asks_for_report(argv) -> bool:
    """`snakemake --report FILE`: Snakemake builds no job then, it only wraps existing outputs."""
    return any(a == "--report" or a.startswith("--report=") for a in argv)


def report_precondition(figures_dir) -> str | None:
    """Why a report cannot be made yet, or None. Snakemake would say only "File results/figures
    marked for report but does not exist", after a warning per missing file."""
    if Path(figures_dir).is_dir() and any(Path(figures_dir).iterdir()):
        return None
    return (f"no figures yet ({figures_dir} does not exist): make them first with `snakemake --cores 1` "
            "(or `snakemake figures` to plot what is captured), then `snakemake --report results/report.html`")


# targets that only plot or summarise what is captured (rules/plot.smk, rules/aggregate.smk)
PLOT_RULES = ("figures", "plot", "aggregate_all")


def names_plot_target(argv) -> bool:
    from .paths import FIGURES, REQUESTS, SUMMARY, TRIALS

    named = {*PLOT_RULES, FIGURES, f"{FIGURES}/", SUMMARY, REQUESTS, TRIALS}
    return any(a in named for a in argv)
