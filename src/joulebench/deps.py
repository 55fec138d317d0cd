"""Guards for the few places that lean on another library's internals: a clear error naming the
package and the version range joulebench was tested with, instead of an AttributeError deep inside."""
from __future__ import annotations

import importlib.metadata as metadata
from importlib import import_module

from .errors import CaptureError


def require_version(dist: str, specifier: str, purpose: str, hint: str = "") -> str:
    """The installed version of `dist`, or CaptureError when it is missing or outside `specifier`."""
    from packaging.specifiers import SpecifierSet

    wanted = SpecifierSet(specifier)
    try:
        have = metadata.version(dist)
    except metadata.PackageNotFoundError:
        have = None
    if have is None or have not in wanted:
        raise CaptureError(f"{purpose} needs {dist} {wanted} (installed: {have or 'none'}); "
                           f"install it, e.g. pip install '{dist}{wanted}'{hint}")
    return have


def import_internal(module: str, attributes: tuple[str, ...], dist: str, specifier: str, purpose: str,
                    hint: str = ""):
    """`module` (an internal of `dist`) with every name in `attributes`, after checking the version
    range; names missing even inside the range (a patch release moved them) give the same clear error."""
    have = require_version(dist, specifier, purpose, hint)
    mod = import_module(module)
    missing = [a for a in attributes if not hasattr(mod, a)]
    if missing:
        raise CaptureError(f"{purpose} uses {module}.{', '.join(missing)}, which {dist} {have} does not have; "
                           f"joulebench is tested with {dist} {specifier}{hint}")
    return mod
