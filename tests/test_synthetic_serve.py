"""Stand-ins load in llama-server, count prompt tokens like aiperf's HF tokenizer, and honour ignore_eos.

Ports 18310-18399 only (18080 belongs to the pipeline's default config).
"""
import json
import random
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from joulebench.toolchain.llamacpp import find_binary
from joulebench.errors import JoulebenchError
from joulebench.models.presets import PRESETS, SEED_PRESETS
from joulebench.models.synthetic import build_synthetic

try:
    SERVER = find_binary("llama-server", allow_build=False)  # llama-quantize: added to it on demand
except JoulebenchError:
    pytest.skip("llama.cpp not built", allow_module_level=True)

BASE_PORT = 18310


def _post(port, path, body, timeout=600):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=timeout).read())


class Server:
    def __init__(self, gguf: Path, port: int, log: Path):
        self.port = port
        self.proc = subprocess.Popen(
            [str(SERVER), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-c", "4096",
             "--jinja", "-t", "2", "--parallel", "1", "--no-cache-prompt"],
            stdout=subprocess.DEVNULL, stderr=open(log, "w"))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"llama-server exited {self.proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if json.loads(r.read()).get("status") == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.3)
        self.close()
        raise AssertionError("llama-server did not become healthy")

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _hf_tokenizer(gguf):
    from transformers import AutoTokenizer

    from joulebench.models.tokenizer import build_tokenizer, snapshot_dir

    repo, _home = build_tokenizer("synthetic-test", gguf, None)
    return AutoTokenizer.from_pretrained(str(snapshot_dir(repo)))


def _corpus():
    try:
        import aiperf  # the prompts aiperf itself samples from
        p = Path(aiperf.__file__).parent / "dataset/generator/assets/shakespeare.txt"
        if p.exists():
            return p.read_text()[:200_000]
    except ImportError:
        pass
    return ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
            "the slings and arrows of outrageous fortune, or to take arms against a sea of troubles. ") * 400


def _check(name, port, tmp_path, lengths, gen):
    gguf = build_synthetic(name, PRESETS[name].quant)
    tok = _hf_tokenizer(gguf)
    ids = tok(_corpus(), add_special_tokens=False)["input_ids"]
    rng = random.Random(7)
    srv = Server(gguf, port, tmp_path / "server.log")
    try:
        for n in lengths:  # aiperf's way: a slice of corpus tokens, decoded, chat-templated
            start = rng.randrange(len(ids) - n)
            msgs = [{"role": "user", "content": tok.decode(ids[start:start + n])}]
            rendered = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            hf = len(tok(rendered)["input_ids"])
            server = len(_post(port, "/tokenize", {"content": rendered, "add_special": True,
                                                   "parse_special": True})["tokens"])
            r = _post(port, "/v1/chat/completions",
                      {"messages": msgs, "max_tokens": gen, "ignore_eos": True, "temperature": 0})
            assert hf == server == r["usage"]["prompt_tokens"], (n, hf, server, r["usage"])
            assert r["usage"]["completion_tokens"] == gen
    finally:
        srv.close()


def test_smollm2_135m_serves_and_counts_like_hf(tmp_path):
    _check("smollm2-135m", BASE_PORT, tmp_path, lengths=(128, 512), gen=16)


# one stand-in per architecture in a default run (gemma3, qwen3, qwen2, lfm2; llama is
# smollm2-135m above); the larger sizes of the same architectures are `exhaustive`
PER_ARCHITECTURE = ("gemma3-270m", "qwen3-0.6b", "qwen2.5-0.5b", "lfm2.5-350m")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n if n in PER_ARCHITECTURE else pytest.param(n, marks=pytest.mark.exhaustive)
                                  for n in dict.fromkeys(SEED_PRESETS + ("gemma3-270m",))])
def test_every_preset_serves(name, tmp_path):
    port = BASE_PORT + 1 + sorted(PRESETS).index(name)
    _check(name, port, tmp_path, lengths=(128, 512, 2048), gen=32)
