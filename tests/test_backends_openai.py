"""OpenAI-compatible backend: against a small fake /v1/models server, and live against a real
llama-server (skipped where the binary or the GGUF is missing)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from joulebench.backends import make_backend
from joulebench.backends.base import ModelInfo
from joulebench.backends.process import http_ok, port_in_use
from joulebench.errors import CaptureError



def _live_server():
    """The pipeline's own llama-server, or a skip where llama.cpp is not built."""
    from joulebench.toolchain.llamacpp import find_binary
    from joulebench.errors import JoulebenchError

    try:
        return find_binary("llama-server", allow_build=False)
    except JoulebenchError as exc:
        pytest.skip(f"llama.cpp not built ({exc})")


def info(name="gemma3-270m") -> ModelInfo:
    return ModelInfo(name=name, quant="Q4_K_M", gguf=None, sha256=None, size_bytes=None, family="gemma",
                     chat_template=None, tokenizer_id="tok", hf_home=None)


def backend(url, **kv):
    return make_backend("remote", {"backends": {"remote": {"kind": "openai", "url": url, **kv}}},
                        Path("/nonexistent"), None, [])


@pytest.fixture
def fake():
    served = {"ids": ["gemma3-270m"]}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in served["ids"]]})
            if self.path == "/version" and served.get("version"):  # as vLLM answers it
                body = json.dumps({"version": served["version"]})
                self.send_response(200)
                self.end_headers()
                self.wfile.write(body.encode())
                return
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.end_headers()
            self.wfile.write(body.encode())

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{srv.server_address[1]}"
    yield served
    srv.shutdown()
    srv.server_close()


def test_endpoint_defaults(fake):
    b = backend(fake["url"] + "/")
    ep = b.ensure(info())
    assert ep.url == fake["url"] and ep.served_model == "gemma3-270m"
    assert ep.extra_inputs == {"ignore_eos": True}
    b.check_alive()
    prov = b.provenance()
    assert prov["managed"] is False and prov["models_listed"] == ["gemma3-270m"] and prov["live_tested"]
    b.stop()  # never stops anything
    b.check_alive()


def test_an_openai_cell_carries_the_version_its_server_reports(fake):
    from joulebench.metrics.cell_table import provenance_columns

    fake["version"] = "0.11.2"
    b = backend(fake["url"])
    b.ensure(info())
    prov = b.provenance()
    assert {k: prov[k] for k in ("kind", "version", "argv", "live_tested")} == \
        {"kind": "openai", "version": "0.11.2", "argv": None, "live_tested": True}
    assert provenance_columns({"backend": prov})["backend_version"] == "0.11.2"
    # a server that says nothing: None, and the record says where it was asked
    fake["version"] = None
    b.ensure(info())
    assert b.provenance()["version"] is None and b.provenance()["version_from"] == ["/version", "/props"]


def test_served_model_and_extra_inputs_from_config(fake):
    fake["ids"] = ["google/gemma-3-270m-it"]
    ep = backend(fake["url"], served_model="google/gemma-3-270m-it", extra_inputs={}).ensure(info())
    assert ep.served_model == "google/gemma-3-270m-it" and ep.extra_inputs == {}


def test_model_not_served_is_an_error(fake):
    fake["ids"] = ["something-else"]
    with pytest.raises(CaptureError, match="served_model"):
        backend(fake["url"]).ensure(info())


def test_dead_server_is_an_error():
    with pytest.raises(CaptureError, match="/v1/models"):
        backend("http://127.0.0.1:9").ensure(info())


def _chat(url, body):
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def test_live_llama_server(tmp_path, default_gguf):
    from joulebench.toolchain.llamacpp import source_dir

    SERVER_BIN, GGUF = _live_server(), default_gguf
    TEMPLATE = source_dir() / "models/templates/google-gemma-2-2b-it.jinja"
    port = next(p for p in range(18200, 18300) if not port_in_use("127.0.0.1", p))
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [str(SERVER_BIN), "-m", str(GGUF), "--host", "127.0.0.1", "--port", str(port), "-c", "1024",
         "--parallel", "1", "-ngl", "0", "-t", "1", "-a", "gemma3-270m", "--jinja",
         "--chat-template-file", str(TEMPLATE)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not http_ok(url + "/health") and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.5)
        b = backend(url)
        ep = b.ensure(info())
        assert ep.served_model == "gemma3-270m" and "gemma3-270m" in b.provenance()["models_listed"]
        assert re.fullmatch(r"b\d+-\w+", b.provenance()["version"]), b.provenance()  # llama.cpp's /props build_info
        # what aiperf will send: the extra inputs merged into a chat request with an OSL target
        for field in ("max_completion_tokens", "max_tokens"):
            out = _chat(url, {"model": ep.served_model, "messages": [{"role": "user", "content": "Say hi."}],
                              field: 24, **ep.extra_inputs})
            assert out["usage"]["completion_tokens"] == 24, (field, out["usage"])
        b.check_alive()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    with pytest.raises(CaptureError):
        b.check_alive()
