"""Faults around one REAL capture (snakemake CLI, llama-server, aiperf, gemma3-270m): each must end
in a non-zero exit and one clear error naming the thing at fault. Where the real fault is
impractical (aiperf hanging for its whole timeout) the real function is driven directly."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import reliability_harness as H

pytestmark = [pytest.mark.integration]

ONE_CELL = dict(ctx=(64,), gen=(8,), requests=1, warmup=0)


def _gguf() -> Path:
    from joulebench.models.sources import resolve_gguf

    return resolve_gguf("gemma3-270m", H.config_default()["models"]["gemma3-270m"])


def _fails(wd, *needles):
    proc = H.run(wd, "--cores", "1", "results/default/llamacpp/", timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    for n in needles:
        assert str(n) in out, f"{n!r} not in output:\n{out[-4000:]}"
    # nothing half-done is accepted, and no server is left running
    assert not H.accepted_cells(wd)
    assert not H.servers_alive(wd)
    return out


def test_port_already_taken(tmp_path):
    wd = H.make_workdir(tmp_path, **ONE_CELL)
    port = H.config(wd)["backends"]["llamacpp"]["port"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        _fails(wd, f"port {port} on 127.0.0.1 is already in use", "backends.llamacpp.port")


def test_server_binary_missing(tmp_path):
    wd = H.make_workdir(tmp_path, **ONE_CELL, backends__llamacpp__binary="/nonexistent/llama-server")
    _fails(wd, "llama-server /nonexistent/llama-server is missing or not executable")


def test_server_binary_not_a_server(tmp_path):
    """An executable that is no llama-server (exits at once): the start-up error and its log tail."""
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\necho 'fake llama-server: cannot start' >&2\nexit 7\n")
    fake.chmod(0o755)
    wd = H.make_workdir(tmp_path / "wd", **ONE_CELL, backends__llamacpp__binary=str(fake))
    _fails(wd, "exited with code 7 while starting", "fake llama-server: cannot start")


def test_gguf_missing(tmp_path):
    wd = H.make_workdir(tmp_path, **ONE_CELL, models__gemma3_270m__source={"path": "/nonexistent/m.gguf"})
    _fails(wd, "/nonexistent/m.gguf: GGUF file not found")


def test_gguf_bad_magic(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"\0" * 4096)
    wd = H.make_workdir(tmp_path / "wd", **ONE_CELL, models__gemma3_270m__source={"path": str(bad)})
    _fails(wd, f"{bad}: not a GGUF file (magic bytes b'NOPE'")


def test_gguf_truncated(tmp_path):
    """Valid magic and header, tensors cut off: the run refuses it at its start, naming the file and
    how many bytes are missing (before: only llama-server's start-up failure)."""
    src = _gguf()
    cut = tmp_path / "truncated.gguf"
    with open(src, "rb") as fh, open(cut, "wb") as out:
        out.write(fh.read(src.stat().st_size // 2))
    wd = H.make_workdir(tmp_path / "wd", **ONE_CELL, models__gemma3_270m__source={"path": str(cut)})
    out = _fails(wd, f"{cut}: truncated GGUF: {src.stat().st_size // 2} bytes, its ")
    assert "while starting" not in out, "refused before any server starts"


def test_aiperf_fails(tmp_path):
    fake = tmp_path / "aiperf"
    fake.write_text("#!/bin/sh\necho 'fake aiperf: connection refused' >&2\nexit 3\n")
    fake.chmod(0o755)
    wd = H.make_workdir(tmp_path / "wd", **ONE_CELL, aiperf__binary=str(fake))
    out = _fails(wd, "aiperf exited with code 3", "aiperf.log")
    # the failed attempt's files are kept aside, never deleted
    kept = list((wd / H.INCOMPLETE).rglob("aiperf.log"))
    assert kept and "fake aiperf: connection refused" in kept[0].read_text()


def _names_cause_and_moved_files(out: str, wd: Path, *quoted: str) -> None:
    """The error quotes the per-request cause and points at where the attempt's files are now."""
    line = next((ln for ln in out.splitlines() if "joulebench error:" in ln and "aiperf exited" in ln), "")
    for q in quoted:
        assert q in line, f"{q!r} not in the error line:\n{line}\n{out[-3000:]}"
    assert ".block-staging-" not in line and ".staging-" not in line
    m = re.search(r"the attempt's files are kept in (\S+) \(see its aiperf.log", out)
    assert m, out[-3000:]
    assert (wd / m.group(1) / "aiperf.log").exists()


def test_prompt_longer_than_the_server_context_is_named(tmp_path):
    """A slot context smaller than prompt + generation, which the config check cannot see (two
    slots share -c 512 here): the server's per-request refusal is quoted."""
    wd = H.make_workdir(tmp_path, **{**ONE_CELL, "ctx": (256,)},
                        backends__llamacpp__extra_args=["-c", "512", "--parallel", "2", "--no-kv-unified"])
    out = _fails(wd, "aiperf exited with code")
    _names_cause_and_moved_files(out, wd, "exceed the server's context", "exceeds the available context size")


def test_request_timeout_is_named(tmp_path):
    wd = H.make_workdir(tmp_path, **ONE_CELL, sweep__request_timeout_s=0.001)
    out = _fails(wd, "aiperf exited with code")
    _names_cause_and_moved_files(out, wd, "requests timed out", "TimeoutError")


def test_openai_server_answering_501_is_named(tmp_path):
    """An "OpenAI-compatible" server that lists models but answers every POST with HTTP 501
    (Python's http.server): the HTTP status and its message are quoted."""
    port = H.free_port()
    www = tmp_path / "www"
    (www / "v1").mkdir(parents=True)
    (www / "v1" / "models").write_text('{"object": "list", "data": [{"id": "gemma3-270m"}]}')
    srv = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=www,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wd = H.make_workdir(tmp_path / "wd", **ONE_CELL,
                            backends={"remote": {"kind": "openai", "url": f"http://127.0.0.1:{port}"}})
        proc = H.run(wd, "--cores", "1", "results/default/remote/", timeout=600)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        _names_cause_and_moved_files(out, wd, "HTTP 501", "Unsupported method ('POST')")
        assert not H.accepted_cells(wd)
    finally:
        srv.kill()
        srv.wait()


def test_aiperf_times_out_and_its_process_group_is_stopped(tmp_path):
    """run_aiperf (the real function) with a client that hangs: a timeout error naming aiperf and
    its log, and every process of its group gone."""
    from joulebench.runtime.clients import run_aiperf
    from joulebench.errors import CaptureError

    class Alive:
        def check_alive(self):
            pass

    hang = tmp_path / "aiperf"
    hang.write_text("#!/bin/sh\nsleep 300 &\nsleep 300\n")
    hang.chmod(0o755)
    log = tmp_path / "aiperf.log"
    t0 = time.monotonic()
    with pytest.raises(CaptureError, match=r"aiperf did not finish within 2s \(log: .*aiperf.log\)"):
        run_aiperf([str(hang)], dict(os.environ), log, Alive(), timeout_s=2, state_dir=tmp_path / "clients")
    assert time.monotonic() - t0 < 20
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(hang)], capture_output=True, text=True).stdout.split()
    assert not left, f"aiperf's group survived: {left}"
    assert not list((tmp_path / "clients").glob("*.json"))  # the pid record is gone with it


def test_server_dies_during_aiperf_is_named(tmp_path):
    """run_aiperf polls the server: a dead server stops aiperf at once with the server's error."""
    from joulebench.runtime.clients import run_aiperf
    from joulebench.errors import CaptureError

    class Dead:
        def check_alive(self):
            raise CaptureError("server llamacpp died or stopped answering; log tail (x.log):\nboom")

    log = tmp_path / "aiperf.log"
    with pytest.raises(CaptureError, match="server llamacpp died"):
        run_aiperf(["sleep", "300"], dict(os.environ), log, Dead(), timeout_s=60)


def test_tokenizer_does_not_match_the_model(tmp_path):
    """A tokenizer that is not the model's: the prompts come out at the wrong length as the server
    counts them, so the cell is rejected naming the requests, and the error names the tokenizer."""
    tok_dir = tmp_path / "other-tokenizer"
    _byte_level_tokenizer(tok_dir)
    wd = H.make_workdir(tmp_path / "wd", **ONE_CELL, models__gemma3_270m__tokenizer=str(tok_dir))
    out = _fails(wd, "!= target 64 (server count)", "is models.gemma3-270m.tokenizer", str(tok_dir))


def test_disk_not_writable(tmp_path):
    """results/raw on a read-only filesystem (a ro tmpfs mount; root ignores chmod)."""
    wd = H.make_workdir(tmp_path, **ONE_CELL)
    with H.tmpfs_on(wd / "results" / "raw", "ro,size=1m"):
        out = _fails(wd, "Read-only file system")
        assert "results/raw" in out


def test_full_disk_is_one_line_and_loses_nothing(tmp_path):
    """results/raw on a 64 KiB tmpfs: aiperf's exports fill it. One joulebench error line names the
    full disk and where the attempt's files went (raw-incomplete/, another filesystem here)."""
    wd = H.make_workdir(tmp_path, **ONE_CELL)
    with H.tmpfs_on(wd / "results" / "raw", "size=64k") as raw:
        out = _fails(wd)
        errors = [ln for ln in out.splitlines() if ln.startswith("joulebench error:")]
        assert errors and ("No space left on device" in errors[0] or "the disk is full" in errors[0]), out[-4000:]
        assert "the attempt's files are kept in results/raw-incomplete/" in out, out[-4000:]
        assert "joulebench/capture" not in out, "a traceback of ours"
        assert not list(raw.rglob(".*staging-*"))


# -- helpers ----------------------------------------------------------------------------------
def _byte_level_tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<bos>", "<eos>"])
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 50, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>")
    fast.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    fast.save_pretrained(str(path))


def test_aiperf_orphaned_by_a_kill_is_stopped_before_the_next_capture(tmp_path):
    """run_aiperf records aiperf's pid; after a kill -9 of the job, aiperf (own session) keeps
    loading the server. reap_orphan_clients (called at the start of every capture and by the
    Snakefile's onsuccess/onerror) stops its whole process group."""
    import json

    from joulebench.runtime.clients import reap_orphan_clients

    fake = tmp_path / "aiperf"
    fake.write_text("#!/bin/sh\nsleep 300 &\nsleep 300\n")
    fake.chmod(0o755)
    proc = subprocess.Popen([str(fake)], start_new_session=True)
    state = tmp_path / "clients"
    state.mkdir()
    (state / f"{proc.pid}.json").write_text(json.dumps({"pid": proc.pid, "argv0": str(fake)}))
    # a stale record whose pid now belongs to something else is dropped, not killed
    other = subprocess.Popen(["sleep", "300"])
    (state / f"{other.pid}.json").write_text(json.dumps({"pid": other.pid}))
    try:
        time.sleep(0.3)
        assert reap_orphan_clients(state) == [proc.pid]
        proc.wait(timeout=5)
        time.sleep(0.3)
        left = subprocess.run(["pgrep", "-f", str(fake)], capture_output=True, text=True).stdout.split()
        assert not left
        assert other.poll() is None, "an unrelated process was killed"
        assert not list(state.glob("*.json"))
    finally:
        other.kill()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_server_left_by_a_killed_run_is_stopped_but_a_live_runs_is_kept(tmp_path):
    """stop_orphans (called when a non-dry snakemake run starts) stops a server whose owning
    snakemake is gone (a kill -9, after which a rerun with nothing to do never reaches onsuccess)
    and keeps one whose owner still runs."""
    from joulebench.backends.process import stop_orphans

    state = tmp_path / "servers"
    with H.fake_servers(tmp_path, state, ("orphan", "dead"), ("live", "live"), ("legacy", None)) as procs:
        assert stop_orphans(state) == ["orphan"]
        assert procs["orphan"].wait(timeout=15) is not None
        assert procs["live"].poll() is None and procs["legacy"].poll() is None
        assert sorted(f.stem for f in state.glob("*.json")) == ["legacy", "live"]
