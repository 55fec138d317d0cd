"""Cross-field checks on a validated config: what a JSON schema cannot express, caught before
anything runs instead of after a capture (config.check_semantics calls check_cross_fields).

Found by walking where config values meet each other: the prompt and generation against the
server's context, and servers that would share a port. (Names that collide with the results
tree, and a sweep value listed twice, are the schema's: $defs.name and uniqueItems.)"""
from __future__ import annotations

from .errors import ConfigError

# backend kinds whose context size joulebench sets itself (llama-server -c, Ollama num_ctx)
SIZED_KINDS = ("llamacpp", "ollama")
STARTED_KINDS = ("llamacpp",)


def check_cross_fields(cfg: dict, source: str = "config") -> None:
    for check in (_context_fits, _ports_shared):
        check(cfg, source)


def server_context(backend: dict) -> int | None:
    """The context the server gets: ctx_size, or a -c/--ctx-size in extra_args (the last wins)."""
    if backend.get("kind") not in SIZED_KINDS:
        return None
    size = backend.get("ctx_size")
    args = list(backend["extra_args"])
    for i, arg in enumerate(args):
        value = None
        if arg in ("-c", "--ctx-size") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--ctx-size="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                size = int(value)
            except ValueError:
                pass
    return size


def _context_fits(cfg, source):
    """The prompt (tokens as the server counts them, chat template included) plus the generation
    must fit the server's context, else every request of the largest cells fails mid-capture."""
    need = max(map(int, cfg["sweep"]["prompt_tokens"])) + max(map(int, cfg["sweep"]["gen_tokens"]))
    for name, backend in cfg["backends"].items():
        size = server_context(backend)
        if size is not None and need > size:
            raise ConfigError(
                f"{source}: config key 'backends.{name}.ctx_size': {size} tokens cannot hold the largest "
                f"cell (sweep.prompt_tokens {max(cfg['sweep']['prompt_tokens'])} + sweep.gen_tokens "
                f"{max(cfg['sweep']['gen_tokens'])} = {need}); raise ctx_size or shorten the sweep"
            )


def _ports_shared(cfg, source):
    seen = {}
    for name, backend in cfg["backends"].items():
        if backend.get("kind") not in STARTED_KINDS:
            continue
        key = (backend.get("host"), backend.get("port"))
        if key in seen:
            raise ConfigError(
                f"{source}: config keys 'backends.{seen[key]}.port' and 'backends.{name}.port': both "
                f"servers would listen on {key[0]}:{key[1]}; give each its own port"
            )
        seen[key] = name
