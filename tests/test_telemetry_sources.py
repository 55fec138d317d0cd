"""INA3221 / RAPL against fake sysfs trees, source resolution, and the sampler process end to end."""
import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from joulebench.telemetry import ina3221, make_sampler, rapl, resolve_source
from joulebench.telemetry.base import META_FILE, SAMPLES_FILE, read_samples
from joulebench.telemetry.rapl import unwrap


def fake_ina(root: Path, rails=(("VDD_IN", 5000, 1000), ("VDD_CPU_GPU_CV", 5000, 400), ("VDD_SOC", 5000, 200))):
    hw = root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    hw.mkdir(parents=True)
    for i, (name, mv, ma) in enumerate(rails, 1):
        (hw / f"in{i}_label").write_text(name + "\n")
        (hw / f"in{i}_input").write_text(f"{mv}\n")
        (hw / f"curr{i}_input").write_text(f"{ma}\n")
    (hw / "in7_input").write_text("1\n")  # unlabelled channel: ignored
    (hw / "update_interval").write_text("5\n")
    return hw


def fake_rapl(root: Path, e=123, max_uj=1000):
    d = root / "sys/class/powercap/intel-rapl:0"
    d.mkdir(parents=True)
    (d / "name").write_text("package-0\n")
    (d / "energy_uj").write_text(f"{e}\n")
    (d / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return d


def test_ina3221_channels_by_label(tmp_path):
    fake_ina(tmp_path)
    ch = ina3221.find_channels(str(tmp_path))
    assert sorted(ch) == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"]
    src = ina3221.Ina3221Source(10, str(tmp_path))
    rec = src.read()
    assert rec["p_mw"]["VDD_IN"] == pytest.approx(5000.0)  # 5000 mV x 1000 mA = 5 W
    assert list(src.meta()["update_interval_ms"].values()) == [5]
    assert rec["t_ns"] > 1.6e18 and rec["mono_ns"] > 0


def test_rapl_discovery_and_wraparound(tmp_path):
    fake_rapl(tmp_path)
    assert rapl.find_domains(str(tmp_path))["package-0"]["max_uj"] == 1000
    v = np.array([900.0, 990.0, 20.0, 60.0])  # wrapped once between 990 and 20
    assert unwrap(v, 1000).tolist() == [900.0, 990.0, 1020.0, 1060.0]


def test_resolve_source_auto(tmp_path):
    cfg = {"telemetry": {"source": "auto"}}
    assert resolve_source(cfg, "cpu", str(tmp_path)) == ("none", "no power sensor")
    assert resolve_source(cfg, "jetson", str(tmp_path))[0] == "tegrastats"
    fake_ina(tmp_path)
    assert resolve_source(cfg, "jetson", str(tmp_path))[0] == "ina3221"
    fake_rapl(tmp_path)
    assert resolve_source(cfg, "cpu", str(tmp_path))[0] == "rapl"
    assert resolve_source(cfg, "nvidia-gpu")[0] == "nvml"
    assert resolve_source({"telemetry": {"source": "ina3221"}}, "cpu") == ("ina3221", None)


def test_read_samples_tolerates_truncated_last_line(tmp_path):
    p = tmp_path / SAMPLES_FILE
    p.write_text('{"t_ns": 1, "mono_ns": 1}\n{"t_ns": 2, "mono_ns": 2}\n{"t_ns": 3, "mo')
    s, problems = read_samples(p)
    assert len(s) == 2 and problems == [f"{SAMPLES_FILE}:3: truncated last line"]


def _run_sampler(tmp_path, source, root=None, env=None, seconds=0.6):
    out = tmp_path / "staging"
    out.mkdir()
    cfg = {"telemetry": {"source": source, "interval_ms": 20}}
    s = make_sampler(source, cfg, out, [], reason="test")
    if root:
        s.root = str(root)
    s.start()
    time.sleep(seconds)
    return out, s.stop()


@pytest.fixture
def src_on_path(monkeypatch):
    src = str(Path(__file__).resolve().parents[1] / "src")
    monkeypatch.setenv("PYTHONPATH", src + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_sampler_process_ina3221(tmp_path, src_on_path):
    fake_ina(tmp_path / "root")
    out, meta = _run_sampler(tmp_path, "ina3221", root=tmp_path / "root")
    assert meta["source"] == "ina3221" and meta["samples"] >= 3 and meta["sampler_rc"] == 0
    assert meta["rails"] == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"] and meta["errors"] == []
    assert (out / META_FILE).exists()
    lines = (out / SAMPLES_FILE).read_text().splitlines()
    assert json.loads(lines[0])["p_mw"]["VDD_IN"] == pytest.approx(5000.0)
    with pytest.raises(FileExistsError):  # write-once: a second sampler cannot overwrite
        open(out / SAMPLES_FILE, "x")


def test_sampler_process_tegrastats_fake_binary(tmp_path, src_on_path, monkeypatch):
    line = (Path(__file__).resolve().parents[2] / "shared/fixtures/tegrastats/published-lines.txt")
    line = (line if line.exists() else Path("/work/shared/fixtures/tegrastats/published-lines.txt")).read_text().splitlines()[1]
    fake = tmp_path / "tegrastats"
    fake.write_text(f"#!/bin/sh\nwhile true; do echo '{line}'; echo 'garbage'; sleep 0.05; done\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JOULEBENCH_TEGRASTATS", str(fake))
    out, meta = _run_sampler(tmp_path, "tegrastats")
    assert meta["samples"] >= 4 and meta["rejected_lines"] >= 2
    assert meta["rails"] == ["VDD_CPU_GPU_CV", "VDD_IN", "VDD_SOC"]
    assert any("no 'MM-DD-YYYY" in r for r in meta["rejected_reasons"])


def test_sampler_failing_source_raises(tmp_path, src_on_path):
    from joulebench.errors import CaptureError

    out = tmp_path / "staging"
    out.mkdir()
    s = make_sampler("ina3221", {"telemetry": {"interval_ms": 20}}, out, [], reason="test")
    s.root = str(tmp_path / "nothing-here")
    s.ready_timeout_s = 5
    with pytest.raises(CaptureError, match="no sample"):
        s.start()
