"""Helpers the Snakemake rules call at DAG time."""
from __future__ import annotations

from collections import Counter


def missing_cells_table(cells, is_captured, limit: int = 40) -> str:
    """A short table of what a run would capture: per (mode, backend, model), missing/total."""
    total = Counter((c.mode, c.backend, c.model) for c in cells)
    missing = [c for c in cells if not is_captured(c)]
    miss = Counter((c.mode, c.backend, c.model) for c in missing)
    lines = [f"joulebench: {len(missing)} of {len(cells)} cells not captured yet"]
    if not missing:
        return lines[0]
    w_mode = max(4, *(len(k[0]) for k in total))
    w_back = max(7, *(len(k[1]) for k in total))
    w_model = max(5, *(len(k[2]) for k in total))
    lines.append(f"  {'mode':<{w_mode}}  {'backend':<{w_back}}  {'model':<{w_model}}  missing  cells (ctx x gen)")
    shown = 0
    for key in total:
        if not miss.get(key):
            continue
        if shown >= limit:
            lines.append(f"  ... and {len([k for k in miss if miss[k]]) - shown} more groups")
            break
        these = [c for c in missing if (c.mode, c.backend, c.model) == key]
        cells_txt = " ".join(f"{c.ctx}x{c.gen}" for c in these[:8]) + (" ..." if len(these) > 8 else "")
        lines.append(
            f"  {key[0]:<{w_mode}}  {key[1]:<{w_back}}  {key[2]:<{w_model}}  {miss[key]:>3}/{total[key]:<3}  {cells_txt}"
        )
        shown += 1
    return "\n".join(lines)
