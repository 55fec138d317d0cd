"""Chat templates: llama-server needs one explicitly when the GGUF carries none."""
from __future__ import annotations

from pathlib import Path

from ..errors import JoulebenchError


def resolve_template(name: str, spec: str, llama_src: Path | None, gguf_meta: dict) -> Path | None:
    """None = use the GGUF's own template. Otherwise a .jinja path.

    `--chat-template gemma` with jinja on turns every prompt into the literal word "gemma"
    (measured), so templates are always passed as files.
    """
    if spec == "gguf":
        if "tokenizer.chat_template" not in gguf_meta:
            raise JoulebenchError(
                f"config key 'models.{name}.chat_template': the GGUF has no chat template; name a "
                "file from llama.cpp's models/templates/ (e.g. google-gemma-2-2b-it.jinja) or a path"
            )
        return None
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    if llama_src is not None:
        candidate = llama_src / "models" / "templates" / spec
        if candidate.is_file():
            return candidate
    raise JoulebenchError(
        f"config key 'models.{name}.chat_template': {spec!r} is neither a file nor a template in "
        f"llama.cpp's models/templates/ ({llama_src})"
    )
