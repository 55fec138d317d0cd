"""Serving N requests at once: the server's slots and the context they need.

llama-server with `--parallel N` (and no unified KV cache, its default when N is given) splits
`-c` evenly: each slot is its own sequence of -c / N positions. So -c = N x the per-slot context
(`backends.<name>.ctx_size`), and what must fit the model is one slot: a request's prompt (chat
template included, as the server counts it) plus its generation must not pass the context the
model was trained on (GGUF `<arch>.context_length`), checked before the server starts.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from ..config_checks import server_context, sweep_slot_need
from ..errors import CaptureError


def trained_context(gguf: Path) -> tuple[int | None, str]:
    """(n_ctx_train, the GGUF key it came from); None where the GGUF does not say."""
    from ..models.gguf_file import read_metadata

    meta = read_metadata(gguf, arrays=())
    key = f"{meta.get('general.architecture', '?')}.context_length"
    value = meta.get(key)
    return (int(value) if value is not None else None), key


def slot_plan(backend_name: str, bcfg: dict, sweep: dict, concurrency: int, model_name: str,
              gguf: Path | None) -> dict:
    """The context each of `concurrency` slots gets, what the sweep needs of one, and the checks."""
    per_slot = int(server_context(bcfg) or 0)
    need = sweep_slot_need(sweep)
    plan = {"parallel": int(concurrency), "ctx_per_slot": per_slot, "ctx_total": int(concurrency) * per_slot,
            "need_per_slot": need, "n_ctx_train": None, "n_ctx_train_key": None}
    if gguf is not None:
        trained, key = trained_context(gguf)
        plan.update(n_ctx_train=trained, n_ctx_train_key=key)
        if trained is not None and need > trained:
            raise CaptureError(
                f"model {model_name}: one request needs {need} tokens of context (sweep.prompt_tokens "
                f"{max(sweep['prompt_tokens'])} + sweep.gen_tokens {max(sweep['gen_tokens'])}) but the model "
                f"was trained on {trained} (GGUF key {key} in {gguf}); shorten the sweep for this model")
    return plan


def reported_slots(base_url: str, timeout: float = 5.0) -> dict:
    """The server's own concurrency limit where it reports one: llama-server's GET /props
    (`total_slots`, and each slot's `n_ctx`). Other servers: recorded as not reported."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/props", timeout=timeout) as resp:
            body = json.loads(resp.read().decode(errors="replace") or "{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return {"server_slots": None, "server_slots_source": f"not reported (GET /props: {exc})"}
    if not isinstance(body, dict) or "total_slots" not in body:
        return {"server_slots": None, "server_slots_source": "not reported (GET /props has no total_slots)"}
    settings = body.get("default_generation_settings") or {}
    return {"server_slots": int(body["total_slots"]), "server_slots_source": "GET /props total_slots",
            "server_slot_n_ctx": settings.get("n_ctx") if isinstance(settings, dict) else None}
