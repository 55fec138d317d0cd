"""The llama.cpp build recipe: AMX is kept out of -march=native where CPUID advertises it but the
machine traps on it (a real failure here: SIGILL in ggml's AMX matmul), and kept where it runs."""
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from joulebench.errors import JoulebenchError
from joulebench.toolchain import llamacpp as B

CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n"
CPUINFO_NO_AMX = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\nbugs\t\t: amx_tile_is_not_a_flag_here\n"


def test_amx_advertised_reads_the_flags_line_only():
    assert B.amx_advertised(CPUINFO_AMX)
    assert not B.amx_advertised(CPUINFO_NO_AMX)
    assert not B.amx_advertised("")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_amx_probe_agrees_with_the_machine():
    """On a machine without AMX in CPUID the probe cannot pass; where it passes, the tile
    instruction really ran in a child process."""
    usable = B.amx_usable()
    assert isinstance(usable, bool)
    if not B.amx_advertised():
        assert usable is False


def test_no_extra_flags_when_the_user_chose_the_isa_or_not_x86(monkeypatch):
    monkeypatch.setattr(B, "amx_advertised", lambda cpuinfo=None: True)
    monkeypatch.setattr(B, "amx_usable", lambda cc="cc": False)
    assert B.native_cmake_args(["-DGGML_NATIVE=OFF"]) == []
    assert B.native_cmake_args(["-DGGML_AMX_INT8=ON"]) == []
    if platform.machine() in ("x86_64", "AMD64"):
        flags = B.native_cmake_args([])
        assert flags == [f"-DCMAKE_C_FLAGS={B.NO_AMX_FLAGS}", f"-DCMAKE_CXX_FLAGS={B.NO_AMX_FLAGS}"]
        monkeypatch.setattr(B, "amx_usable", lambda cc="cc": True)
        assert B.native_cmake_args([]) == []
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")  # a Jetson
    monkeypatch.setattr(B, "amx_usable", lambda cc="cc": False)
    assert B.native_cmake_args([]) == []


def test_cached_build_is_runnable_here(default_gguf):
    """The binary the pipeline will use runs a matmul-heavy bench without trapping (the AMX SIGILL
    showed up only once a model was evaluated)."""
    try:
        bench = B.find_binary("llama-bench", allow_build=False)
    except JoulebenchError:
        pytest.skip("llama.cpp not built (joulebench build-llama)")
    out = subprocess.run([str(bench), "-m", str(default_gguf), "-p", "32", "-n", "4", "-r", "1", "-t", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "tg4" in out.stdout, out.stdout


def test_one_build_command_takes_what_bootstrap_passes(capsys):
    from joulebench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["build-llama", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(opt in out for opt in ("--cmake-arg", "--jobs", "--sdist"))
    bootstrap = (Path(__file__).parents[1] / "bootstrap.sh").read_text()
    assert ".venv/bin/joulebench build-llama" in bootstrap and "llamacpp_build" not in bootstrap
