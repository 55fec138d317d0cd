"""Chat templates: llama-server needs one explicitly when the GGUF carries none."""
from __future__ import annotations

from pathlib import Path

from ..config import config_relative
from ..errors import JoulebenchError


def resolve_template(name: str, spec: str, llama_src: Path | None, gguf_meta: dict,
                     config_dir: str | Path = ".", gguf: Path | None = None) -> Path | None:
    """None = use the GGUF's own template. Otherwise a .jinja path: a file (relative paths are read
    from the config file's folder, config.config_base) or a name from llama.cpp's models/templates/.

    `--chat-template gemma` with jinja on turns every prompt into the literal word "gemma"
    (measured), so templates are always passed as files.
    """
    if spec == "gguf":
        if "tokenizer.chat_template" not in gguf_meta:
            raise JoulebenchError(
                f"config key 'models.{name}.chat_template': the GGUF has no chat template; name a "
                "file from llama.cpp's models/templates/ (e.g. google-gemma-2-2b-it.jinja) or a path"
            )
        check_template(gguf_meta["tokenizer.chat_template"], f"{gguf or 'the GGUF'}: tokenizer.chat_template")
        return None
    path = config_relative(spec, config_dir)
    if path.is_file():
        check_template_file(path)
        return path.resolve()
    if llama_src is not None:
        candidate = llama_src / "models" / "templates" / spec
        if candidate.is_file():
            return candidate
    raise JoulebenchError(
        f"config key 'models.{name}.chat_template': {spec!r} is neither a file ({path}) nor a template "
        f"in llama.cpp's models/templates/ ({llama_src})"
    )


def check_template_file(path: Path) -> None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise JoulebenchError(f"{path}: chat template is not UTF-8 text (byte {exc.start})") from None
    check_template(text, str(path))


def check_template(text: str, where: str) -> None:
    """Parse a chat template as Jinja (as transformers compiles it: loop controls and its
    `{% generation %}` block allowed); a syntax error names `where` and the template's line."""
    try:
        import jinja2
        from jinja2.ext import Extension
    except ImportError:  # nothing to parse it with here; llama-server still will
        return

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.Scope(body, lineno=lineno)

    env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", Generation])
    try:
        env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        raise JoulebenchError(f"{where}: chat template does not parse as Jinja: line {exc.lineno}: "
                              f"{exc.message}") from None
