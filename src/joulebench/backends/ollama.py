"""Ollama: attach to (or start) `ollama serve`, import each GGUF with a per-family chat template and
stop tokens, check that it is fully offloaded to the GPU, and serve it on the OpenAI-compatible
/v1/chat/completions that aiperf talks to.

Written against Ollama's documented REST API (api.md / docs.ollama.com) and tested against a fake
server that serves those documented shapes; never run against a real Ollama here, hence
live_tested = False.

Output length: Ollama has no ignore_eos. Its OpenAI layer maps only `max_tokens` to num_predict
(`max_completion_tokens`, which aiperf sends by default, is silently ignored: the seed's 850-of-256
overrun), so the endpoint asks for aiperf's --use-legacy-max-tokens. Overruns are then impossible;
an early end-of-sequence is not preventable and the cell's OSL check rejects it. See
docs/backends.md.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import CaptureError
from .base import Backend, Endpoint, ModelInfo
from .process import ManagedServer, http_ok, tail

# Go templates over .Messages (the chat endpoint passes messages, not a single .Prompt), the
# strings that end a turn, and the default system prompt the model's own (Jinja) template inserts
# when a request has none. The capture sizes prompts with the Jinja template and checks the
# server's token count exactly, so the Ollama rendering must produce the same tokens: Ollama puts
# the model's SYSTEM first in .Messages when a request carries no system message.
_CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
FAMILIES = {
    "chatml": (_CHATML, ["<|im_start|>", "<|im_end|>"],
               "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),  # Qwen2.5
    "qwen3": (_CHATML, ["<|im_start|>", "<|im_end|>"], None),
    "smollm2": (_CHATML, ["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    "lfm": (_CHATML, ["<|im_end|>", "<|endoftext|>"], None),
    "llama3": (
        "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}<|eot_id|>"
        "{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
        ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        # Llama 3.2's template always opens with this system block (its default date)
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n",
    ),
    "gemma": (
        # Gemma has no system role: every non-assistant turn is a user turn
        "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n"
        "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n",
        ["<end_of_turn>"],
        None,
    ),
}


def model_parameters(bcfg: dict, family: str) -> dict:
    params = {
        "num_ctx": int(bcfg["ctx_size"]),
        "num_gpu": int(bcfg["n_gpu_layers"]),  # layers to offload, as llama.cpp's -ngl
        "stop": list(FAMILIES[family][1]),
    }
    if bcfg.get("num_predict") is not None:  # a cap for requests that carry no max_tokens
        params["num_predict"] = int(bcfg["num_predict"])
    return params


def modelfile_text(gguf: Path, template: str, params: dict, system: str | None = None) -> str:
    """The Modelfile equivalent of the create request, kept for people (and provenance)."""
    lines = [f"FROM {gguf}", f'TEMPLATE """{template}"""']
    if system:
        lines.append(f'SYSTEM """{system}"""')
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"PARAMETER {key} {json.dumps(v) if isinstance(v, str) else v}")
    return "\n".join(lines) + "\n"


def ollama_name(model: ModelInfo, fingerprint: str) -> str:
    """Ollama names are `name:tag` of [a-z0-9._-]; the tag changes whenever the GGUF, template or
    parameters change, so a stale import is never reused."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", model.name.lower()).strip("-.") or "model"
    return f"joulebench-{slug}:{fingerprint[:12]}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class OllamaBackend(Backend):
    kind = "ollama"
    live_tested = False

    def __init__(self, name: str, bcfg: dict, state_dir: Path, cpu_prefix: tuple = ()):
        super().__init__(name, bcfg)
        self.cpu_prefix = tuple(cpu_prefix)
        self.host = self.bcfg["host"]
        self.port = int(self.bcfg["port"])
        self.base_url = f"http://{self.host}:{self.port}"
        self.server = ManagedServer(state_dir, name)
        self.attached: bool | None = None
        self.reused: bool | None = None
        self.version: str | None = None
        self.current: str | None = None
        self.info: dict = {}

    # -- HTTP ----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body=None, timeout: float = 60.0, raw=None,
                 headers: dict | None = None):
        data = json.dumps(body).encode() if body is not None else raw
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode(errors="replace")
                return resp.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            if method == "HEAD" or exc.code == 404:
                return exc.code, text
            raise CaptureError(f"ollama {method} {path}: HTTP {exc.code}: {text.strip()[:500]}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise CaptureError(f"ollama {method} {path} at {self.base_url}: {exc}") from exc

    # -- server --------------------------------------------------------------------------
    def _serve_argv(self) -> tuple[list[str], dict]:
        binary = self.bcfg["binary"] or shutil.which("ollama")
        if not binary:
            raise CaptureError(
                f"no Ollama answers at {self.base_url} and no `ollama` binary was found; install Ollama "
                f"or set backends.{self.name}.binary"
            )
        env = {
            "OLLAMA_HOST": f"{self.host}:{self.port}",
            "OLLAMA_NUM_PARALLEL": "1",       # as llama-server --parallel 1
            "OLLAMA_MAX_LOADED_MODELS": "1",  # one model in memory at a time
            **{str(k): str(v) for k, v in (self.bcfg.get("env") or {}).items()},
        }
        return [str(binary), "serve", *self.bcfg["extra_args"]], env

    def _start_or_attach(self) -> None:
        health = self.base_url + "/api/version"
        st = self.server.load()
        ours = st is not None and self.server._ours(st)
        if not ours and http_ok(health):
            # someone else's `ollama serve` (e.g. the systemd service): use it, never stop it
            self.attached, self.reused = True, True
            return
        argv, env = self._serve_argv()
        _, self.reused = self.server.ensure(
            argv, host=self.host, port=self.port, health_url=health,
            timeout_s=float(self.bcfg["startup_timeout_s"]), env=env, prefix=self.cpu_prefix,
        )
        self.attached = False

    # -- models --------------------------------------------------------------------------
    def _push_blob(self, gguf: Path, digest: str) -> None:
        status, _ = self._request("HEAD", f"/api/blobs/sha256:{digest}")
        if status == 200:
            return
        size = gguf.stat().st_size
        with open(gguf, "rb") as fh:
            status, body = self._request("POST", f"/api/blobs/sha256:{digest}", raw=fh, timeout=1800,
                                         headers={"Content-Type": "application/octet-stream",
                                                  "Content-Length": str(size)})
        if status not in (200, 201):
            raise CaptureError(f"ollama refused the GGUF blob {gguf} (HTTP {status}: {body})")

    def _import(self, model: ModelInfo) -> tuple[str, dict]:
        family = model.family
        if family not in FAMILIES:
            raise CaptureError(
                f"config key 'models.{model.name}.family' is needed for Ollama (one of {sorted(FAMILIES)}): "
                "it chooses the chat template and stop tokens"
            )
        if model.gguf is None:
            raise CaptureError(f"model {model.name!r} has no GGUF file to import into Ollama")
        digest = model.sha256 if model.sha256 and re.fullmatch(r"[0-9a-f]{64}", model.sha256) \
            else file_sha256(model.gguf)
        template, _, system = FAMILIES[family]
        params = model_parameters(self.bcfg, family)
        fingerprint = hashlib.sha256(json.dumps([digest, template, params, system],
                                                sort_keys=True).encode()).hexdigest()
        name = ollama_name(model, fingerprint)
        request = {
            "model": name,
            "files": {model.gguf.name: f"sha256:{digest}"},
            "template": template,
            "parameters": params,
            "stream": False,
        }
        if system:
            request["system"] = system
        _, tags = self._request("GET", "/api/tags")
        known = {m.get("name") for m in (tags or {}).get("models", [])} | \
            {m.get("model") for m in (tags or {}).get("models", [])}
        created = False
        if name not in known:
            self._push_blob(model.gguf, digest)
            _, resp = self._request("POST", "/api/create", body=request, timeout=1800)
            if not isinstance(resp, dict) or resp.get("status") != "success":
                raise CaptureError(f"ollama create {name} did not succeed: {resp}")
            created = True
        return name, {"ollama_model": name, "created": created, "create_request": request,
                      "modelfile": modelfile_text(model.gguf, template, params, system)}

    def _loaded(self) -> list[dict]:
        _, ps = self._request("GET", "/api/ps")
        return list((ps or {}).get("models", []))

    def _unload(self, name: str) -> None:
        self._request("POST", "/api/generate", body={"model": name, "keep_alive": 0, "stream": False})

    def _check_offload(self, name: str) -> dict:
        entry = next((m for m in self._loaded() if name in (m.get("name"), m.get("model"))), None)
        if entry is None:
            raise CaptureError(f"ollama: {name} is not in /api/ps after loading it")
        size, vram = int(entry.get("size") or 0), int(entry.get("size_vram") or 0)
        want_gpu = int(self.bcfg["n_gpu_layers"]) > 0
        if want_gpu and (size == 0 or vram != size):
            raise CaptureError(
                f"ollama: {name} is only {100.0 * vram / max(size, 1):.0f}% in GPU memory "
                f"(size_vram {vram} of size {size}); a partly-CPU model is not measured. Free GPU memory "
                "or use a smaller model/context"
            )
        return {"size": size, "size_vram": vram, "context_length": entry.get("context_length"),
                "gpu_fraction": (vram / size) if size else None}

    # -- the interface -------------------------------------------------------------------
    def ensure(self, model: ModelInfo) -> Endpoint:
        self._start_or_attach()
        _, ver = self._request("GET", "/api/version")
        self.version = (ver or {}).get("version") if isinstance(ver, dict) else None
        name, self.info = self._import(model)
        others = [m.get("name") for m in self._loaded() if m.get("name") != name]
        for other in others:
            if str(other).startswith("joulebench-"):
                self._unload(other)  # our previous model block; never someone else's model
        self.info["other_loaded_models"] = [o for o in others if not str(o).startswith("joulebench-")]
        # an empty generate loads the model (documented); keep it for the block of cells
        _, loaded = self._request("POST", "/api/generate", timeout=600, body={
            "model": name, "keep_alive": self.bcfg["keep_alive"], "stream": False})
        if not isinstance(loaded, dict) or not loaded.get("done"):
            raise CaptureError(f"ollama did not load {name}: {loaded}")
        self.info["offload"] = self._check_offload(name)
        self.current = name
        ep = Endpoint(url=self.base_url, served_model=name,
                      extra_inputs=dict(self.bcfg["extra_inputs"]))
        # Ollama reads only max_tokens (not max_completion_tokens); aiperf_cmd turns this into
        # --use-legacy-max-tokens (an attribute until Endpoint grows the field)
        ep.use_legacy_max_tokens = True
        return ep

    def check_alive(self) -> None:
        if self.attached:
            if not http_ok(self.base_url + "/api/version", timeout=5):
                raise CaptureError(f"the Ollama server at {self.base_url} stopped answering")
            return
        self.server.check_alive(self.base_url + "/api/version")

    def _log_path(self):
        st = None if self.attached else self.server.load()
        return Path(st.log) if st else None

    def log_tail(self) -> str:
        log = self._log_path()
        return tail(log) if log else "(attached to an Ollama server joulebench did not start: no log)"

    def reported_version(self) -> str | None:
        return self.version  # GET /api/version

    def started_argv(self) -> list[str] | None:
        st = None if self.attached else self.server.load()
        return st.argv if st else None

    def provenance_extras(self) -> dict:
        return {
            "attached": self.attached,
            "server_reused": self.reused,
            "server_prefix": list(self.cpu_prefix),
            "base_url": self.base_url,
            **self.info,
            "output_length_control": "max_tokens -> num_predict; no ignore_eos in Ollama",
        }

    def unload(self) -> None:
        if self.current:
            self._unload(self.current)
            self.current = None

    def stop(self) -> None:
        try:
            self.unload()
        except CaptureError:
            pass  # the server may already be gone
        if not self.attached:
            self.server.stop()

