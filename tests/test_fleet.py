"""The devices axis without a device: config, cell identity and paths, targets and resources
through the real Snakefile (dry runs), the submit argv and job status of joulebench.fleet, and the
analysis tables' device column. The real two-device capture: test_integration_fleet.py."""
import copy
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from joulebench import config as C
from joulebench import fleet
from joulebench import paths as P
from joulebench.config import Cell
from joulebench.errors import ConfigError
from joulebench.metrics.aggregate import seed_columns, write_pooled

from test_trials import _capture_targets, _snakemake


def fleet_config(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["modes"] = {"15W": {}, "25W": {}}
    cfg["devices"] = {
        "orin-1": {"host": "orin-1.lab", "cores": "0-3", "modes": ["25W"],
                   "submit": ["ssh", "{host}", "taskset", "-c", "{cores}", "bash"]},
        "ws": {"cores": "1", "platform": "nvidia-gpu", "pinning": {"server_cores": "1", "client_cores": "0"},
               "backends": {"llamacpp": {"port": 18555}}},
    }
    return cfg


def test_devices_are_the_outermost_axis_with_their_own_settings(default_config):
    cfg = C.validate(fleet_config(default_config))
    cells = C.cells(cfg)
    # orin-1 runs only 25W, ws both modes; 4 (ctx, gen) points each
    assert [(c.device, c.mode) for c in cells[::4]] == [("orin-1", "25W"), ("ws", "15W"), ("ws", "25W")]
    assert len(cells) == 12
    ws = C.device_config(cfg, "ws")
    assert ws["platform"] == "nvidia-gpu" and ws["backends"]["llamacpp"]["port"] == 18555
    assert ws["pinning"]["enabled"] is True  # merged over the top level, not replacing it
    assert C.device_config(ws, "ws") == ws  # idempotent: a capture's config can be given again
    # so what a capture records (from its device's config) is what a later run checks (whole config)
    cell = next(c for c in cells if c.device == "ws")
    assert C.cell_settings_hash(ws, cell) == C.cell_settings_hash(cfg, cell)
    assert C.device_config(cfg, "orin-1")["backends"]["llamacpp"]["port"] == 18080
    # the device is part of what a capture depends on: the same point on two boards differs
    a, b = (Cell("25W", "llamacpp", "gemma3-270m", 128, 32, device=d) for d in ("orin-1", "ws"))
    assert C.cell_settings_hash(cfg, a) != C.cell_settings_hash(cfg, b)
    assert C.device_resource("orin-1") == "device_orin_1"


def test_without_devices_nothing_changes(default_config):
    cfg = C.validate(default_config)
    cell = C.cells(cfg)[0]
    assert cell.device is None and C.devices(cfg) == [None]
    assert P.cell_suffix(cell) == "default/llamacpp/gemma3-270m/ctx128_gen32"
    assert "fleet_device" not in cell.row() and len(cell.block) == 5
    assert C.wildcard_values(cfg)["device"] == [""]
    assert C.device_config(cfg, None) is cfg


def test_device_paths_and_rows_round_trip():
    cell = Cell("25W", "llamacpp", "m", 512, 64, 2, concurrency=4, device="orin-1")
    assert P.cell_suffix(cell) == "orin-1/25W/llamacpp/m/ctx512_gen64_c4_t2"
    assert P.pair_dir("orin-1", "25W", "llamacpp") == "results/orin-1/25W/llamacpp"
    assert P.pair_dir(None, "25W", "llamacpp") == "results/25W/llamacpp"
    assert Cell.from_row(cell.row()) == cell and cell.row()["fleet_device"] == "orin-1"
    assert cell.block[0] == "orin-1"
    for bad in ("orin-1", "a/b/"):
        with pytest.raises(ValueError):
            P.device_from_tag(bad)


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c["devices"]["ws"].update(modes=["40W"]), "devices.ws.modes"),
    (lambda c: c["devices"]["ws"].update(backends={"vllm": {}}), "devices.ws.backends"),
    (lambda c: c["devices"]["ws"]["backends"]["llamacpp"].update(port=70000), "backends.llamacpp.port"),
    (lambda c: c["devices"]["ws"]["pinning"].update(client_cores="1"), "device ws"),
    (lambda c: c["devices"].update({"25W": {}}), "used twice"),
    (lambda c: c["devices"]["ws"].update(ssh="x"), "devices.ws"),
    (lambda c: c["devices"].update({"ws.1": {}, "ws_1": {}}), "same Snakemake resource"),
])
def test_bad_device_names_the_key(default_config, mutate, message):
    cfg = fleet_config(default_config)
    mutate(cfg)
    with pytest.raises(ConfigError, match=re.escape(message)):
        C.validate(cfg, source="fleet.yaml")


def test_targets_and_per_device_resources_through_snakemake(tmp_path, default_config):
    cfg = fleet_config(default_config)
    cfg["devices"]["orin-1"]["slurm"] = {"partition": "jetson-orin-nano", "constraint": "orin-1"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    every = _capture_targets(tmp_path)
    assert len(every) == 12 and all(re.match(r"results/raw/(orin-1|ws)/(15W|25W)/llamacpp/", t) for t in every)
    # a pair target captures on that board only
    assert _capture_targets(tmp_path, "results/orin-1/25W/llamacpp") == sorted(
        f"results/raw/orin-1/25W/llamacpp/gemma3-270m/ctx{c}_gen{g}/cell.json" for c in (128, 512) for g in (32, 64))
    text = _snakemake(tmp_path, "-n", "-p", "results/ws/15W/llamacpp")
    # each capture takes its own device's resource (1 in total, registered by the workflow)
    assert text.count("resources: tmpdir=/tmp, device_orin_1=0, device_ws=1, device=0") == 4, text[-3000:]
    # a board that is a SLURM node: its partition and constraint, for the slurm executor
    text = _snakemake(tmp_path, "-n", "-p", "results/orin-1/25W/llamacpp")
    assert text.count("device_orin_1=1, device_ws=0, slurm_partition=jetson-orin-nano, constraint=orin-1") == 4


def test_submit_argv_local_and_configured(default_config):
    cfg = C.validate(fleet_config(default_config))
    assert fleet.submit_argv(cfg, "ws", "/s/job.sh") == ["taskset", "-c", "1", "/bin/sh", "/s/job.sh"]
    assert fleet.submit_argv(cfg, "orin-1", "/s/job.sh") == [
        "ssh", "orin-1.lab", "taskset", "-c", "0-3", "bash", "/s/job.sh"]
    assert fleet.submit_argv(cfg, None, "/s/job.sh") == ["/bin/sh", "/s/job.sh"]


def test_submit_and_status_of_a_real_local_job(tmp_path, default_config):
    """A job script run through the submit command: running, then success / failed by its exit."""
    cfg = fleet_config(default_config)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    ids = {}
    for name, body in (("ok", "sleep 6; echo pinned $(taskset -pc $$)"), ("bad", "exit 3")):
        script = tmp_path / f"{name}.sh"
        script.write_text(body + "\n")
        out = subprocess.run([sys.executable, "-m", "joulebench.fleet", "submit", "config.yaml", "ws/", str(script)],
                             cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
        ids[name] = out.stdout.strip()
        assert ids[name].isdigit()
        if name == "ok":
            assert fleet.status(ids["ok"], tmp_path) == "running"
    deadline = pd.Timestamp.now() + pd.Timedelta(seconds=30)
    while fleet.status(ids["ok"], tmp_path) == "running" and pd.Timestamp.now() < deadline:
        subprocess.run(["sleep", "0.2"])
    assert fleet.status(ids["ok"], tmp_path) == "success"
    assert fleet.status(ids["bad"], tmp_path) == "failed"
    log = (tmp_path / fleet.FLEET_LOGS / "ok.log").read_text()
    assert re.search(r"affinity list: 1$", log, re.M), log  # the device's core (taskset -c 1)
    assert fleet.status("999999999", tmp_path) == "failed"  # gone without a status: killed


def test_a_fleet_pair_of_another_config_is_named_as_stray(tmp_path):
    from joulebench.metrics.combine import stray_pairs

    for pair in ("a/default/llamacpp", "default/llamacpp", "b/default/llamacpp"):
        (tmp_path / pair).mkdir(parents=True)
        (tmp_path / pair / "summary.parquet").write_bytes(b"")
    assert [d for d, _ in stray_pairs(tmp_path, ["a/default/llamacpp"])] == [
        f"{tmp_path.as_posix()}/b/default/llamacpp", f"{tmp_path.as_posix()}/default/llamacpp"]


def test_summary_pools_per_device(tmp_path):
    """Two devices measuring the same point stay two rows (the device leads the key)."""
    rows = [{"fleet_device": device, "mode": "m", "backend": "be", "model": "x", "ctx": 64, "gen": 8,
             "concurrency": 1, "trial": 1, "output_tok_s_per_user_avg": 10.0 * (i + 1)}
            for i, device in enumerate(("a", "b"))]
    out = tmp_path / "out"
    write_pooled(seed_columns(pd.DataFrame(rows)), pd.DataFrame(), out / "s.parquet", out / "r.parquet",
                 out / "t.parquet", max_rel_ci=0.1)
    summary = pd.read_parquet(out / "s.parquet")
    assert list(summary.columns[:2]) == ["fleet_device", "mode"]
    assert summary.set_index("fleet_device").output_tok_s_per_user_avg.to_dict() == {"a": 10.0, "b": 20.0}
