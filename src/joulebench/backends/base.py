"""What every backend provides to the capture step."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ModelInfo:
    name: str
    quant: str
    gguf: Path | None
    sha256: str | None
    size_bytes: int | None
    family: str | None
    chat_template: Path | None
    tokenizer_id: str
    hf_home: Path | None
    params_m: float | None = None


@dataclass
class Endpoint:
    url: str  # base URL, e.g. http://127.0.0.1:18080
    served_model: str  # the `model` field requests carry
    endpoint_type: str = "chat"
    extra_inputs: dict = field(default_factory=dict)  # merged into every request body
    # Ollama's OpenAI layer reads only `max_tokens` (not `max_completion_tokens`)
    use_legacy_max_tokens: bool = False


class Backend(ABC):
    """Lifecycle of one backend for one (mode, model) block of cells.

    A backend gets its settings with the schema's defaults for its kind (config.backend_settings),
    and must say what every cell records about it: provenance() = the common core (kind, version,
    argv, live_tested) plus the kind's own extras."""

    kind = "base"
    #: True where the backend was never run live in this project's tests (see README)
    live_tested = True

    def __init__(self, name: str, bcfg: dict):
        from ..config import backend_settings

        self.name = name
        self.bcfg = backend_settings({"kind": self.kind, **bcfg})
        self.port_claimed = threading.Event()

    @abstractmethod
    def ensure(self, model: ModelInfo) -> Endpoint:  # start or attach, health-checked
        """The endpoint serving `model`, started or attached to and health-checked."""

    def planned_endpoint(self, model: ModelInfo) -> Endpoint | None:
        """The endpoint `ensure` will return, known before the server is up (so a client may start
        beside it); None where only `ensure` can tell. A backend that returns one sets
        `port_claimed` in `ensure` once only the server it ensures can answer there."""
        return None

    @abstractmethod
    def reported_version(self) -> str | None:
        """The server's version as the server itself reports it (None where it does not say)."""

    @abstractmethod
    def started_argv(self) -> list[str] | None:
        """The command line joulebench started the server with; None where it did not start it."""

    def provenance_extras(self) -> dict:
        """What this kind records beyond the common core."""
        return {}

    def metrics_url(self) -> tuple[str | None, str | None]:
        """(the server's Prometheus /metrics URL, None) or (None, why there is none)."""
        return None, f"backend kind {self.kind} has no /metrics endpoint"

    def provenance(self) -> dict:
        return {"kind": self.kind, "version": self.reported_version(), "argv": self.started_argv(),
                "live_tested": self.live_tested, **self.provenance_extras()}

    def check_alive(self) -> None:  # raise CaptureError with a log tail if the server died
        return None

    def _log_path(self) -> Path | None:
        """The server's log file where joulebench started the server, else None."""
        return None

    def log_offset(self) -> int:
        log = self._log_path()
        return log.stat().st_size if log and log.exists() else 0

    def log_excerpt(self, start: int) -> bytes:
        """What the server logged since `start` (kept with the cell as server.log)."""
        log = self._log_path()
        if not log or not log.exists():
            return b""
        with open(log, "rb") as fh:
            fh.seek(start)
            return fh.read()

    def stop(self) -> None:
        return None
