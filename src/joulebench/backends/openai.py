"""An OpenAI-compatible server someone else runs (vLLM, MLC, TensorRT-LLM, llama-cpp-python...).

joulebench never starts or stops it: it checks GET {url}/v1/models before the cell and while
aiperf runs, and names the model the server expects. `ignore_eos` is sent by default (vLLM,
llama.cpp and TensorRT-LLM honour it); where a server rejects or ignores it, set `extra_inputs`
in the backend config, and the cell's OSL check still rejects any request of the wrong length.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

from ..errors import CaptureError
from .base import Backend, Endpoint, ModelInfo


def list_models(url: str, timeout: float = 10.0) -> list[str]:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/v1/models", timeout=timeout) as resp:
            body = json.loads(resp.read().decode(errors="replace") or "{}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CaptureError(f"the OpenAI-compatible server at {url} does not answer GET /v1/models: {exc}") from exc
    return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]


# where OpenAI-compatible servers say their version: vLLM GET /version, llama.cpp GET /props
VERSION_ENDPOINTS = (("/version", "version"), ("/props", "build_info"))


def server_version(url: str, timeout: float = 5.0) -> str | None:
    """The version the server reports at one of VERSION_ENDPOINTS; None where none answers."""
    for path, key in VERSION_ENDPOINTS:
        try:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=timeout) as resp:
                body = json.loads(resp.read().decode(errors="replace") or "{}")
        except (urllib.error.URLError, OSError, ValueError):
            continue
        if isinstance(body, dict) and body.get(key):
            return str(body[key])
    return None


class OpenAIBackend(Backend):
    kind = "openai"
    live_tested = True  # tests run it against a real llama-server

    def __init__(self, name: str, bcfg: dict):
        super().__init__(name, bcfg)
        self.url = self.bcfg["url"].rstrip("/")
        self.models: list[str] = []
        self.served: str | None = None
        self.version: str | None = None

    def ensure(self, model: ModelInfo) -> Endpoint:
        self.models = list_models(self.url)
        self.served = self.bcfg.get("served_model") or model.name
        # an empty list says nothing (some servers list nothing); a list without ours is an error
        if self.models and self.served not in self.models:
            raise CaptureError(
                f"the server at {self.url} serves {self.models}, not {self.served!r}; set "
                f"backends.{self.name}.served_model"
            )
        self.version = server_version(self.url)
        return Endpoint(url=self.url, served_model=self.served, extra_inputs=dict(self.bcfg["extra_inputs"]))

    def check_alive(self) -> None:
        list_models(self.url, timeout=5.0)

    def reported_version(self) -> str | None:
        return self.version

    def started_argv(self) -> list[str] | None:
        return None  # someone else runs it

    def provenance_extras(self) -> dict:
        return {"url": self.url, "served_model": self.served, "models_listed": self.models, "managed": False,
                "version_from": [p for p, _ in VERSION_ENDPOINTS]}
