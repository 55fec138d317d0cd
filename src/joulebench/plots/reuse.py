"""Figures drawn again only when what they are drawn from changed.

Snakemake re-runs the plot job whenever summary.parquet or requests.parquet is newer than the
figures, e.g. after an analysis re-run that wrote the same numbers (a re-analysis after a code
change upstream, an aggregate forced again). The figures are a function of those two files, the
config and the code that draws them: when none of these changed, the set drawn last time (kept in
the run state) is copied back instead of drawn (~8 CPU s for the default sweep's 81 PNGs on 2 cores;
its "not drawn" placeholders are kept across runs by their texts alone: placeholders.py).

When they did change (a cell re-measured or added), each chart is still built, but its PNG is only
rendered where the chart differs from the one kept: KeptFigures keys each chart by the figure
object itself as built (every artist with its data, text, style and place; figure_key) and by how
it is saved and rendered, so a kept PNG is reused only where rendering would give the same bytes.
Rendering and PNG encoding are ~half of the figures' time; after one re-measured cell of a 768-cell
sweep, 11-19 of its 97 charts differ and the plot job takes 0.65-0.71x of a full draw; keying costs
a first draw ~1.06-1.09x (benchmarks/figure_reuse.py).
"""
from __future__ import annotations

import copyreg
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..paths import RUN_STATE

CACHE = Path(RUN_STATE) / "figures"
MANIFEST = ".drawn-from.json"
LIBRARIES = ("matplotlib", "numpy", "pandas", "pyarrow", "tabulate")
PACKAGE = Path(__file__).resolve().parents[1]


def inputs_key(summary_path, requests_path, cfg: dict) -> str:
    """The data, config and library versions the figures are drawn from (the code: code_hashes)."""
    h = hashlib.sha256()
    for path in (summary_path, requests_path):
        h.update(Path(path).read_bytes() if path and Path(path).exists() else b"(none)")
    h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for lib in LIBRARIES:
        try:
            h.update(f"{lib} {metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib} -".encode())
    return h.hexdigest()


def code_hashes() -> dict[str, str]:
    """Each joulebench file the process has loaded (after drawing: every one drawing ran), and the
    config schema (the sweep's defaults), by path inside the package."""
    files = {Path(m.__file__).resolve() for name, m in list(sys.modules.items())
             if name.split(".")[0] == "joulebench" and getattr(m, "__file__", None)}
    files |= set((PACKAGE / "data").glob("*"))
    return {str(f.relative_to(PACKAGE)): _sha(f) for f in sorted(files) if f.is_relative_to(PACKAGE)}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unchanged(code: dict[str, str]) -> bool:
    try:
        return all(_sha(PACKAGE / rel) == digest for rel, digest in code.items())
    except OSError:
        return False


def restore(key: str, out_dir: Path, cache: Path = CACHE) -> list[Path] | None:
    """The kept set copied into out_dir when it was drawn from the same inputs and code; else None."""
    try:
        drawn_from = json.loads((cache / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if drawn_from.get("inputs") != key or not _unchanged(drawn_from.get("code") or {"": ""}):
        return None
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for f in sorted(cache.iterdir()):
        if f.name != MANIFEST and f.is_file():
            shutil.copy2(f, out_dir / f.name)
            files.append(out_dir / f.name)
    return files


def keep(key: str, out_dir: Path, cache: Path = CACHE, figures: dict[str, str] | None = None) -> None:
    """Keep a copy of the set just drawn with what it was drawn from (and each chart's figure_key),
    moved into place whole (a half-copied set is never reused)."""
    tmp = cache.with_name(f".{cache.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(out_dir, tmp)
    (tmp / MANIFEST).write_text(json.dumps({"inputs": key, "code": code_hashes(), "figures": figures or {}},
                                           indent=1))
    shutil.rmtree(cache, ignore_errors=True)
    os.replace(tmp, cache)


def _transform_state(obj):
    state = dict(obj.__getstate__())
    if isinstance(state.get("_parents"), dict):
        state["_parents"] = list(state["_parents"].values())  # keyed by id(): an address
    return copyreg.__newobj__, (type(obj),), state


def _figure_state(obj):
    state = {k: v for k, v in obj.__getstate__().items() if k not in ("_number", "_restore_to_pylab")}
    return copyreg.__newobj__, (type(obj),), state


def _subclasses(cls) -> set:
    out = {cls}
    for sub in cls.__subclasses__():
        out |= _subclasses(sub)
    return out


def _figure_pickler(buf):
    """A pickler of a figure without what differs between equal figures: a transform lists the
    transforms that depend on it in a dict keyed by their id() (an address, different in every
    process; here in insertion order), and a figure holds pyplot's number for it (the next free
    one: it depends on the figures left open before it). A table per class (pickle looks it up in
    C; a Python hook called for every object took ~1.6x as long)."""
    from matplotlib.figure import Figure
    from matplotlib.transforms import TransformNode

    pickler = pickle.Pickler(buf, protocol=5)
    pickler.dispatch_table = {**copyreg.dispatch_table, **dict.fromkeys(_subclasses(TransformNode), _transform_state),
                              **dict.fromkeys(_subclasses(Figure), _figure_state)}
    return pickler


@lru_cache(maxsize=1)
def _rendered_with() -> str:
    """The libraries and the font that turn a figure into PNG bytes."""
    import matplotlib.ft2font
    from matplotlib import font_manager

    font = font_manager.findfont(font_manager.FontProperties())
    versions = [f"{lib} {metadata.version(lib)}" for lib in ("matplotlib", "pillow", "numpy")]
    return f"{versions} freetype {matplotlib.ft2font.__freetype_version__} font {font} {os.path.getsize(font)}"


def figure_key(fig, savefig: dict) -> str | None:
    """The figure as built, how it is saved (savefig's arguments) and rendered (rcParams, library
    versions, default font): equal keys give equal PNG bytes. A figure's pickle holds everything it
    is drawn from (matplotlib's contract: an unpickled figure draws the same). None for a figure that
    cannot be pickled (e.g. an attribute that is a closure): it is always drawn."""
    import matplotlib

    h = hashlib.sha256()
    buf = io.BytesIO()
    try:
        _figure_pickler(buf).dump(fig)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    h.update(buf.getvalue())
    h.update(json.dumps(savefig, sort_keys=True, default=str).encode())
    h.update(json.dumps({k: str(v) for k, v in sorted(matplotlib.rcParams.items())}).encode())
    h.update(_rendered_with().encode())
    return h.hexdigest()


class KeptFigures:
    """Saves each chart's PNG, copied from the set kept last time where its figure_key is the same
    (the keys of that set: its manifest), else rendered; `drawn` holds this run's keys for keep()."""

    def __init__(self, cache: Path = CACHE):
        self.cache = Path(cache)
        try:
            self.kept = dict(json.loads((self.cache / MANIFEST).read_text()).get("figures") or {})
        except (OSError, ValueError, AttributeError):
            self.kept = {}
        self.drawn: dict[str, str] = {}
        self.copied: list[str] = []

    def save(self, fig, png: Path, **savefig) -> None:
        key = figure_key(fig, savefig)
        kept = self.cache / png.name
        if key is not None:
            self.drawn[png.stem] = key
            if self.kept.get(png.stem) == key:
                try:
                    shutil.copyfile(kept, png)
                    self.copied.append(png.stem)
                    return
                except OSError:  # the kept file is gone: drawn
                    pass
        fig.savefig(png, **savefig)
