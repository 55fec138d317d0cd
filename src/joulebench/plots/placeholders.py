"""The "not drawn" PNGs, drawn once per text and kept across runs.

A placeholder shows only its name, its reason and the synthetic label: the same three texts give the
same pixels. On a machine without a power sensor every sweep writes the same ~45 of them (~1.4 CPU s
of the default sweep's figures on 2 cores), so each is kept in the shared cache under a key of its
texts, the matplotlib / FreeType versions and the code that draws it, and copied from there. A kept
file is only ever written whole (renamed into place).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Callable

from ..paths import cache_dir

# the files whose code decides a placeholder's look: the canvas (common.py) and the theme (style.py)
DRAWN_BY = ("common.py", "style.py")


@lru_cache(maxsize=1)
def _drawn_with() -> bytes:
    """The code and library versions every placeholder of this process is drawn with."""
    import matplotlib.ft2font

    here = Path(__file__).resolve().parent
    code = b"".join(hashlib.sha256((here / f).read_bytes()).digest() for f in DRAWN_BY)
    return code + f"matplotlib {metadata.version('matplotlib')} freetype {matplotlib.ft2font.__freetype_version__}".encode()


def key(texts: tuple[str, ...], dpi: int) -> str:
    h = hashlib.sha256(_drawn_with())
    h.update(f"dpi {dpi}".encode())
    for t in texts:
        h.update(len(t).to_bytes(4, "little") + t.encode())
    return h.hexdigest()


def kept_dir() -> Path:
    return cache_dir() / "figures" / "placeholders"


def write(png: Path, texts: tuple[str, ...], dpi: int, draw: Callable[[Path], None]) -> Path:
    """png from the kept copy of these texts, else drawn by draw(path) and kept."""
    kept = kept_dir() / f"{key(texts, dpi)}.png"
    if kept.exists():
        shutil.copyfile(kept, png)
        return png
    draw(png)
    try:
        kept.parent.mkdir(parents=True, exist_ok=True)
        tmp = kept.with_name(f".{kept.name}-{os.getpid()}")
        shutil.copyfile(png, tmp)
        os.replace(tmp, kept)
    except OSError:  # a read-only cache: the figure is written, only not kept
        pass
    return png
