"""Ollama adapter against a fake server that serves the request/response shapes of Ollama's API
documentation (api.md: /api/version, /api/tags, HEAD+POST /api/blobs/:digest, /api/create with
files/template/parameters, /api/generate load and keep_alive 0 unload, /api/ps with size_vram,
/v1/models). No real Ollama was run (live_tested False)."""
from __future__ import annotations

import hashlib
import json
import socket
import stat
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from joulebench.backends import make_backend
from joulebench.backends.base import ModelInfo
from joulebench.backends.ollama import FAMILIES, OllamaBackend, modelfile_text
from joulebench.errors import CaptureError

CREATED_AT = "2024-09-12T21:17:29.110811Z"


class FakeOllama:
    """State of the fake server; `gpu_fraction` decides size_vram in /api/ps."""

    def __init__(self):
        self.blobs: dict[str, int] = {}
        self.models: dict[str, dict] = {}
        self.loaded: dict[str, dict] = {}
        self.calls: list[tuple[str, str, object]] = []
        self.gpu_fraction = 1.0
        self.lock = threading.Lock()


def handler_for(fake: FakeOllama):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, body=None):
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def do_HEAD(self):
            fake.calls.append(("HEAD", self.path, None))
            if self.path.startswith("/api/blobs/sha256:"):
                return self._send(200 if self.path.split(":", 1)[1] in fake.blobs else 404)
            self._send(404)

        def do_GET(self):
            fake.calls.append(("GET", self.path, None))
            if self.path == "/api/version":
                return self._send(200, {"version": "0.12.6"})
            if self.path == "/api/tags":
                return self._send(200, {"models": [
                    {"name": n, "model": n, "modified_at": CREATED_AT, "size": m["size"],
                     "digest": hashlib.sha256(n.encode()).hexdigest(),
                     "details": {"format": "gguf", "family": "llama", "families": None,
                                 "parameter_size": "135M", "quantization_level": "Q4_K_M"}}
                    for n, m in fake.models.items()]})
            if self.path == "/api/ps":
                return self._send(200, {"models": [
                    {"name": n, "model": n, "size": m["size"], "digest": "a2af6cc3eb7f",
                     "details": {"parent_model": "", "format": "gguf", "family": "llama",
                                 "families": ["llama"], "parameter_size": "135M",
                                 "quantization_level": "Q4_K_M"},
                     "expires_at": "2025-10-17T16:47:07.93355-07:00",
                     "size_vram": int(m["size"] * fake.gpu_fraction),
                     "context_length": m["num_ctx"]}
                    for n, m in fake.loaded.items()]})
            if self.path == "/v1/models":
                return self._send(200, {"object": "list", "data": [
                    {"id": n, "object": "model", "created": 1700000000, "owned_by": "library"}
                    for n in fake.models]})
            self._send(404, {"error": "not found"})

        def do_POST(self):
            raw = self._body()
            if self.path.startswith("/api/blobs/sha256:"):
                digest = self.path.split(":", 1)[1]
                fake.calls.append(("POST", self.path, len(raw)))
                if hashlib.sha256(raw).hexdigest() != digest:
                    return self._send(400, {"error": "digest mismatch"})
                fake.blobs[digest] = len(raw)
                return self._send(201)
            body = json.loads(raw or b"{}")
            fake.calls.append(("POST", self.path, body))
            if self.path == "/api/create":
                if "modelfile" in body or not body.get("files"):
                    return self._send(400, {"error": "neither 'from' or 'files' was specified"})
                for fname, digest in body["files"].items():
                    if digest.split(":", 1)[1] not in fake.blobs:
                        return self._send(400, {"error": f"blob {digest} for {fname} not found"})
                size = sum(fake.blobs[d.split(":", 1)[1]] for d in body["files"].values()) + 4096
                fake.models[body["model"]] = {"size": size, "request": body,
                                              "num_ctx": body.get("parameters", {}).get("num_ctx", 4096)}
                if body.get("stream") is False:
                    return self._send(200, {"status": "success"})
                return self._send(200, {"status": "success"})
            if self.path == "/api/generate":
                name = body.get("model")
                if name not in fake.models:
                    return self._send(404, {"error": f"model '{name}' not found"})
                if body.get("keep_alive") == 0 and not body.get("prompt"):
                    fake.loaded.pop(name, None)
                    return self._send(200, {"model": name, "created_at": CREATED_AT, "response": "",
                                            "done": True, "done_reason": "unload"})
                fake.loaded[name] = fake.models[name]
                return self._send(200, {"model": name, "created_at": CREATED_AT, "response": "",
                                        "done": True})
            self._send(404, {"error": "not found"})

    return H


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(host: str, port: int, fake: FakeOllama | None = None) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer((host, port), handler_for(fake or FakeOllama()))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def server():
    fake = FakeOllama()
    srv = serve("127.0.0.1", 0, fake)
    fake.port = srv.server_address[1]
    yield fake
    srv.shutdown()
    srv.server_close()


def model(tmp_path: Path, name="SmolLM2-135M", family="smollm2", content=b"GGUF" + b"\0" * 2000) -> ModelInfo:
    gguf = tmp_path / f"{name}.gguf"
    gguf.write_bytes(content)
    return ModelInfo(name=name, quant="Q4_K_M", gguf=gguf, sha256=hashlib.sha256(content).hexdigest(),
                     size_bytes=len(content), family=family, chat_template=None, tokenizer_id="tok",
                     hf_home=None)


def backend(tmp_path, port, **kv) -> OllamaBackend:
    cfg = {"backends": {"ollama": {"kind": "ollama", "host": "127.0.0.1", "port": port, "ctx_size": 2560,
                                   "n_gpu_layers": 99, **kv}}}
    return make_backend("ollama", cfg, tmp_path / "servers", None, [])


def posts(fake, path):
    return [b for m, p, b in fake.calls if m == "POST" and p == path]


def test_import_load_offload_check_and_endpoint(server, tmp_path):
    m = model(tmp_path)
    b = backend(tmp_path, server.port)
    ep = b.ensure(m)
    # the GGUF was pushed as a blob and created with the documented request shape
    (create,) = posts(server, "/api/create")
    assert create["files"] == {f"{m.name}.gguf": f"sha256:{m.sha256}"}
    assert create["parameters"]["num_ctx"] == 2560 and create["parameters"]["num_gpu"] == 99
    assert create["parameters"]["stop"] == ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    assert create["template"] == FAMILIES["smollm2"][0] and create["stream"] is False
    # SmolLM2's own template inserts this system prompt; the prompt sizes depend on it
    assert create["system"] == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    assert server.blobs == {m.sha256: m.size_bytes}
    # loaded before measuring, fully offloaded
    assert ep.served_model == create["model"] and create["model"].startswith("joulebench-smollm2-135m:")
    assert ep.url == f"http://127.0.0.1:{server.port}"
    assert ep.use_legacy_max_tokens is True and "ignore_eos" not in ep.extra_inputs
    prov = b.provenance()
    assert prov["live_tested"] is False and prov["version"] == "0.12.6" and prov["attached"] is True
    assert prov["kind"] == "ollama" and prov["argv"] is None  # attached: joulebench started nothing
    from joulebench.metrics.cell_table import provenance_columns

    assert provenance_columns({"backend": prov})["backend_version"] == "0.12.6"  # was empty before
    assert prov["offload"]["gpu_fraction"] == 1.0 and prov["offload"]["context_length"] == 2560
    assert "FROM " in prov["modelfile"] and 'PARAMETER stop "<|im_end|>"' in prov["modelfile"]
    b.check_alive()


def test_second_job_reuses_the_import(server, tmp_path):
    m = model(tmp_path)
    backend(tmp_path, server.port).ensure(m)
    b2 = backend(tmp_path, server.port)
    b2.ensure(m)
    assert len(posts(server, "/api/create")) == 1
    assert len([c for c in server.calls if c[0] == "POST" and c[1].startswith("/api/blobs/")]) == 1
    assert b2.provenance()["created"] is False


def test_changed_parameters_make_a_new_import(server, tmp_path):
    m = model(tmp_path)
    a = backend(tmp_path, server.port).ensure(m)
    b = backend(tmp_path, server.port, ctx_size=4096).ensure(m)
    assert a.served_model != b.served_model and len(posts(server, "/api/create")) == 2


def test_partial_gpu_offload_is_refused(server, tmp_path):
    server.gpu_fraction = 0.81
    with pytest.raises(CaptureError, match=r"only 81% in GPU memory"):
        backend(tmp_path, server.port).ensure(model(tmp_path))


def test_cpu_only_backend_does_not_require_offload(server, tmp_path):
    server.gpu_fraction = 0.0
    backend(tmp_path, server.port, n_gpu_layers=0).ensure(model(tmp_path))


def test_family_is_required(server, tmp_path):
    with pytest.raises(CaptureError, match="family"):
        backend(tmp_path, server.port).ensure(model(tmp_path, family=None))


def test_next_model_unloads_previous_joulebench_model_but_not_users(server, tmp_path):
    server.models["llama3.2:latest"] = {"size": 10, "num_ctx": 4096}
    server.loaded["llama3.2:latest"] = server.models["llama3.2:latest"]
    b = backend(tmp_path, server.port)
    first = b.ensure(model(tmp_path)).served_model
    second = b.ensure(model(tmp_path, name="Gemma3-1B", family="gemma", content=b"GGUF" + b"\1" * 3000))
    assert first not in server.loaded and second.served_model in server.loaded
    assert "llama3.2:latest" in server.loaded
    assert b.provenance()["other_loaded_models"] == ["llama3.2:latest"]
    (_, _, gemma_create) = [c for c in server.calls if c[1] == "/api/create"][-1]
    assert gemma_create["parameters"]["stop"] == ["<end_of_turn>"] and "system" not in gemma_create


def test_stop_unloads_with_keep_alive_zero(server, tmp_path):
    b = backend(tmp_path, server.port)
    name = b.ensure(model(tmp_path)).served_model
    b.stop()
    assert {"model": name, "keep_alive": 0, "stream": False} in posts(server, "/api/generate")
    assert server.loaded == {}


def test_num_predict_cap_goes_into_the_import(server, tmp_path):
    backend(tmp_path, server.port, num_predict=256).ensure(model(tmp_path))
    assert posts(server, "/api/create")[0]["parameters"]["num_predict"] == 256


def test_no_server_and_no_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CaptureError, match="no Ollama answers"):
        backend(tmp_path, free_port()).ensure(model(tmp_path))


def test_starts_ollama_serve_when_none_answers(tmp_path):
    """A stand-in `ollama` binary that serves the fake API on $OLLAMA_HOST, started through
    ManagedServer like the real one would be, and stopped again."""
    stub = tmp_path / "ollama"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "assert sys.argv[1:] == ['serve'], sys.argv\n"
        "assert os.environ['OLLAMA_NUM_PARALLEL'] == '1'\n"
        "from test_backends_ollama import serve\n"
        "host, port = os.environ['OLLAMA_HOST'].rsplit(':', 1)\n"
        "serve(host, int(port))\n"
        "print('Listening on', host, port, flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    b = backend(tmp_path, free_port(), binary=str(stub), startup_timeout_s=30)
    try:
        ep = b.ensure(model(tmp_path))
        prov = b.provenance()
        assert prov["attached"] is False and prov["argv"] == [str(stub), "serve"]
        b.check_alive()
        assert b"Listening on" in b.log_excerpt(0)
        assert ep.served_model.startswith("joulebench-")
    finally:
        b.stop()
    with pytest.raises(CaptureError):
        b.check_alive()


def test_templates_and_modelfile():
    for family, (template, stops, _system) in FAMILIES.items():
        assert "range .Messages" in template and stops, family
    text = modelfile_text(Path("/m/x.gguf"), FAMILIES["llama3"][0],
                          {"num_ctx": 2560, "stop": ["<|eot_id|>"], "num_gpu": 99}, FAMILIES["llama3"][2])
    assert text.splitlines()[0] == "FROM /m/x.gguf"
    assert 'PARAMETER stop "<|eot_id|>"' in text and "PARAMETER num_ctx 2560" in text
    assert 'SYSTEM """Cutting Knowledge Date: December 2023' in text
