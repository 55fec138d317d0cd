"""No shell anywhere, argv passed verbatim (spaces, quotes, `;` stay inside one argument), servers on
loopback unless the config says otherwise, and no environment secret in logs or provenance."""
import ast
import os
import re
import secrets
from pathlib import Path

import pytest

import reliability_harness as H

REPO = H.REPO
NASTY = "we ird'name\"; touch /tmp/joulebench-pwned; echo $(id) `id`"


def _python_sources():
    yield from (REPO / "src" / "joulebench").rglob("*.py")
    yield from (REPO / "scripts").rglob("*.py")
    yield from (REPO / "benchmarks").rglob("*.py")


def test_no_shell_in_the_package():
    """AST: no shell=True, os.system, os.popen, subprocess.getoutput/getstatusoutput, pty.spawn."""
    bad = []
    for path in _python_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "shell":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    bad.append(f"{path}:{node.value.lineno}: shell={ast.unparse(node.value)}")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                name = f"{node.value.id}.{node.attr}"
                if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                            "os.execlp", "pty.spawn", "asyncio.create_subprocess_shell"):
                    bad.append(f"{path}:{node.lineno}: {name}")
            if isinstance(node, ast.ImportFrom) and node.module in ("os", "subprocess"):
                for alias in node.names:
                    if alias.name in ("system", "popen", "getoutput", "getstatusoutput"):
                        bad.append(f"{path}:{node.lineno}: from {node.module} import {alias.name}")
    assert not bad, "\n".join(bad)


def test_no_shell_directive_in_the_rules():
    """Snakemake `shell:` directives would build shell strings from wildcards (= config names)."""
    bad = []
    for path in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s+shell:\s*$|\s+shell:\s*[\"']", line) or "shell(" in line or "os.system" in line:
                bad.append(f"{path}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


def _model(gguf, name=NASTY, template=None):
    from joulebench.backends.base import ModelInfo

    return ModelInfo(name=name, quant="Q4_K_M", gguf=Path(gguf), sha256="0" * 64, size_bytes=1,
                     family=None, chat_template=template, tokenizer_id=NASTY, hf_home=None)


def test_server_argv_keeps_nasty_values_as_single_arguments(tmp_path):
    from joulebench.backends.llamacpp import server_argv

    gguf = tmp_path / NASTY.replace("/", "|") / "m.gguf"
    tmpl = tmp_path / f"{NASTY.replace('/', '|')}.jinja"
    from joulebench.config import backend_settings

    argv = server_argv(Path("/opt/llama server/llama-server"),
                       backend_settings({"kind": "llamacpp", "extra_args": ["--foo", "a b; c"]}),
                       _model(gguf, template=tmpl), threads=2)
    assert all(isinstance(a, str) for a in argv)
    assert argv[0] == "/opt/llama server/llama-server"
    assert argv[argv.index("-m") + 1] == str(gguf)
    assert argv[argv.index("-a") + 1] == NASTY
    assert argv[argv.index("--chat-template-file") + 1] == str(tmpl)
    assert argv[-2:] == ["--foo", "a b; c"]
    # loopback unless the config says otherwise
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert server_argv(Path("x"), backend_settings({"kind": "llamacpp", "host": "0.0.0.0"}), _model(gguf), None)[argv.index("--host") + 1] == "0.0.0.0"


def test_schema_default_host_is_loopback():
    from joulebench import config as C

    cfg = C.validate(H.config_default())
    assert cfg["backends"]["llamacpp"].get("host", "127.0.0.1") == "127.0.0.1"
    del_host = H.config_default()
    del_host["backends"]["llamacpp"].pop("host", None)
    assert C.validate(del_host)["backends"]["llamacpp"].get("host", "127.0.0.1") == "127.0.0.1"


def test_aiperf_argv_keeps_nasty_values_as_single_arguments(tmp_path):
    from joulebench.backends.base import Endpoint
    from joulebench.capture.aiperf_cmd import aiperf_argv

    ds = tmp_path / NASTY.replace("/", "|") / "prompts.jsonl"
    art = tmp_path / NASTY.replace("/", "|") / "aiperf"
    ep = Endpoint(url="http://127.0.0.1:1", served_model=NASTY, extra_inputs={"ignore_eos": True})
    argv = aiperf_argv("/x y/aiperf", ep, NASTY, ds, {"requests": 2, "seed": 42, "request_timeout_s": 180,
                                                "warmup_requests": 0}, art, ["--x", "1; rm -rf /"])
    assert argv[argv.index("--model") + 1] == NASTY
    assert argv[argv.index("--tokenizer") + 1] == NASTY
    assert argv[argv.index("--input-file") + 1] == str(ds)
    assert argv[argv.index("--artifact-dir") + 1] == str(art)
    assert argv[-2:] == ["--x", "1; rm -rf /"]


@pytest.mark.integration
def test_real_server_starts_from_a_gguf_path_with_spaces_quotes_and_semicolons(tmp_path):
    """A real llama-server on a symlink whose path holds spaces, quotes, `;`, `$(...)`: it starts,
    the exact path is one argument of the process, nothing is executed by a shell, and it listens
    on 127.0.0.1 only."""
    from joulebench.backends.llamacpp import LlamaCppBackend
    from joulebench.models.sources import resolve_gguf

    real = resolve_gguf("gemma3-270m", H.config_default()["models"]["gemma3-270m"])
    link_dir = tmp_path / NASTY.replace("/", "|")
    link_dir.mkdir()
    link = link_dir / "model 'x'; y.gguf"
    link.symlink_to(real)
    pwned = Path("/tmp/joulebench-pwned")
    pwned.unlink(missing_ok=True)
    port = H.free_port()
    be = LlamaCppBackend("llamacpp", {"port": port, "n_gpu_layers": 0, "ctx_size": 512,
                                       "startup_timeout_s": 120}, tmp_path / "state", threads=1)
    try:
        ep = be.ensure(_model(link))
        st = be.server.load()
        cmd = Path(f"/proc/{st.pid}/cmdline").read_bytes().split(b"\0")
        assert str(link).encode() in cmd and NASTY.encode() in cmd
        assert not pwned.exists()
        # bound to loopback only: /proc/net/tcp lists 0100007F (127.0.0.1) for this port
        listen = [ln.split()[1] for ln in Path("/proc/net/tcp").read_text().splitlines()[1:]
                  if ln.split()[3] == "0A"]
        ours = [a for a in listen if int(a.split(":")[1], 16) == port]
        assert ours == ["0100007F:" + format(port, "04X")], ours
        assert "127.0.0.1" in ep.url
    finally:
        be.stop()
    assert not H.servers_alive_port(port)


@pytest.mark.integration
def test_hf_token_never_reaches_logs_or_provenance(tmp_path):
    """A real capture with HF_TOKEN (and friends) in the environment: the secret appears nowhere
    under results/ (raw tree, cell.json, server and aiperf logs, parsed tables, run logs)."""
    token = "hf_" + secrets.token_hex(16)
    other = "sk-" + secrets.token_hex(16)
    env = {**os.environ, "HF_TOKEN": token, "HUGGING_FACE_HUB_TOKEN": token, "OPENAI_API_KEY": other}
    wd = H.make_workdir(tmp_path, ctx=(64,), gen=(8,), requests=1, warmup=0)
    proc = H.run(wd, "--cores", "1", "results/default/llamacpp/", env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert H.accepted_cells(wd)
    hits = []
    for root in (wd / "results", wd / ".snakemake" / "log"):
        for f in root.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                if token.encode() in data or other.encode() in data:
                    hits.append(str(f.relative_to(wd)))
    assert not hits, f"secret written to {hits}"
    assert token not in proc.stdout + proc.stderr
