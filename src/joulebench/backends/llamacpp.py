"""llama.cpp's llama-server: one server per (mode, backend, model), reused across its cells."""
from __future__ import annotations

from pathlib import Path

from ..toolchain.llamacpp import binary_version, find_binary
from .base import Backend, Endpoint, ModelInfo
from .process import ManagedServer, tail
from .slots import reported_slots, slot_plan


def server_argv(binary: Path, bcfg: dict, model: ModelInfo, threads: int | None, parallel: int = 1) -> list[str]:
    """The seed's flags (--parallel 1 -c 2560 --no-cache-prompt --cache-ram 0), bound to loopback;
    at concurrency N, N slots of ctx_size each (backends/slots.py), and --metrics for the scrape."""
    argv = [
        str(binary),
        "-m", str(model.gguf),
        "--host", bcfg["host"],
        "--port", str(bcfg["port"]),
        "--parallel", str(int(parallel)),
        "-c", str(int(parallel) * int(bcfg["ctx_size"])),
        "--no-cache-prompt",
        "--cache-ram", "0",
        "--metrics",
        "-ngl", str(bcfg["n_gpu_layers"]),
        "-a", model.name,
        "--jinja",
    ]
    if threads:
        argv += ["-t", str(threads)]
    if model.chat_template is not None:
        argv += ["--chat-template-file", str(model.chat_template)]
    argv += list(bcfg["extra_args"])
    return argv


class LlamaCppBackend(Backend):
    kind = "llamacpp"

    def __init__(self, name: str, bcfg: dict, state_dir: Path, threads: int | None = None,
                 cpu_prefix: tuple = (), concurrency: int = 1, sweep: dict | None = None):
        super().__init__(name, bcfg)
        self.threads, self.cpu_prefix = threads, tuple(cpu_prefix)
        self.concurrency, self.sweep = int(concurrency), sweep
        self.slots: dict = {}
        self.binary = find_binary("llama-server", self.bcfg["binary"])
        self.server = ManagedServer(state_dir, name)
        self.reused = None
        self.base_url = f"http://{self.bcfg['host']}:{self.bcfg['port']}"
        self._build: dict | None = None

    def ensure(self, model: ModelInfo) -> Endpoint:
        if self.sweep is not None:  # checked before the server starts
            self.slots = slot_plan(self.name, self.bcfg, self.sweep, self.concurrency, model.name, model.gguf)
        argv = server_argv(self.binary, self.bcfg, model, self.threads, self.concurrency)
        _, self.reused = self.server.ensure(
            argv,
            host=self.bcfg["host"],
            port=int(self.bcfg["port"]),
            health_url=self.base_url + "/health",
            timeout_s=float(self.bcfg["startup_timeout_s"]),
            prefix=self.cpu_prefix,
            on_claim=self.port_claimed.set,
        )
        self.slots.update(reported_slots(self.base_url))
        return self.planned_endpoint(model)

    def planned_endpoint(self, model: ModelInfo) -> Endpoint:
        return Endpoint(url=self.base_url, served_model=model.name, extra_inputs={"ignore_eos": True})

    def check_alive(self) -> None:
        self.server.check_alive(self.base_url + "/health")

    def metrics_url(self) -> tuple[str | None, str | None]:
        return self.base_url + "/metrics", None

    def _log_path(self):
        st = self.server.load()
        return Path(st.log) if st else None

    def log_tail(self) -> str:
        log = self._log_path()
        return tail(log) if log else "(no log)"

    def build(self) -> dict:
        """What `llama-server --version` says (asked once)."""
        if self._build is None:
            self._build = binary_version(self.binary)
        return self._build

    def reported_version(self) -> str | None:
        build = self.build().get("build")
        return None if build is None else f"b{build}"  # llama.cpp's release tag

    def started_argv(self) -> list[str] | None:
        st = self.server.load()
        return st.argv if st else None

    def provenance_extras(self) -> dict:
        st = self.server.load()
        return {
            "llama_cpp": self.build(),
            "server_prefix": list(self.cpu_prefix),
            "server_reused": self.reused,
            "server_started_ns": st.started_ns if st else None,
            "slots": self.slots,
        }

    def stop(self) -> None:
        self.server.stop()
