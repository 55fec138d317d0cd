"""Block bookkeeping of a capture without a device: which cells one run measures, where their files
stage, and that a failure moves every staging folder aside (nothing deleted)."""
import dataclasses
import os

import pytest

from joulebench import config as C
from joulebench.capture import block as B
from joulebench.capture import writeonce
from joulebench.capture.steps import Timings
from joulebench.paths import INCOMPLETE, cell_suffix, raw_dir

RAW_CFG = {"platform": "cpu", "modes": {"default": {}}, "backends": {"llamacpp": {"kind": "llamacpp"}},
           "models": {"m": {"quant": "Q4_K_M", "source": {"path": "m.gguf"}}},
           "sweep": {"prompt_tokens": [64, 128], "gen_tokens": [8], "requests": 3}}


def cfg(**capture):
    raw = {**RAW_CFG, "capture": capture} if capture else RAW_CFG
    return C.validate(raw)


def test_a_cell_is_a_block_of_one_unless_the_config_asks_for_blocks():
    one = C.cells(cfg())[0]
    assert B.splits_into_cells(cfg(), one) is False
    assert B.splits_into_cells(cfg(unit="block"), one) is True
    auto = C.validate({**RAW_CFG, "capture": {"unit": "block"}, "sweep": {**RAW_CFG["sweep"], "requests": "auto"}})
    assert B.splits_into_cells(auto, one) is False  # requests: auto stops per cell
    # N in flight: each cell its own aiperf run (a cell's first requests would batch with the last cell's)
    assert B.splits_into_cells(cfg(unit="block"), dataclasses.replace(one, concurrency=2)) is False


def test_open_block_stages_each_cell_and_skips_captured_mates(tmp_path):
    c = cfg(unit="block")
    first, second = C.cells(c)
    cell_dir = raw_dir(first, tmp_path)
    alone = B.open_block(cfg(), first, cell_dir, tmp_path, split=False)
    assert alone.cells == [first] and alone.work == alone.stagings[first]
    assert alone.work.parent == cell_dir and alone.describe() == f"cell {cell_suffix(first)}"
    for st in alone.stagings.values():
        st.rmdir()
    both = B.open_block(c, first, cell_dir, tmp_path, split=True)
    assert both.cells == [first, second] and both.describe().startswith("block of 2 cells")
    assert both.homes[second] == B.pending_dir(tmp_path, second)
    assert both.stagings[second].parent == both.homes[second] and both.work.name == f".block-staging-{os.getpid()}"
    # a mate already captured is not measured again
    for st in [*both.stagings.values(), both.work]:
        st.rmdir()
    done = raw_dir(second, tmp_path)
    done.mkdir(parents=True)
    (done / writeonce.MARKER).write_text("{}")
    assert B.open_block(c, first, cell_dir, tmp_path, split=True).cells == [first]


def test_set_aside_moves_every_staging_folder_and_lists_the_one_with_aiperf_log_first(tmp_path):
    c = cfg(unit="block")
    first, second = C.cells(c)
    blk = B.open_block(c, first, raw_dir(first, tmp_path), tmp_path, split=True)
    (blk.work / "aiperf.log").write_text("boom")
    (blk.stagings[second] / "prompts.jsonl").write_text("{}\n")
    kept = B.set_aside(blk, tmp_path)
    assert len(kept) == 2 and (kept[0] / "aiperf.log").read_text() == "boom"
    assert all(str(k).startswith(str(tmp_path / INCOMPLETE)) for k in kept)
    assert not blk.work.exists() and not blk.stagings[second].exists()


def test_timings_record_each_named_step_that_finished():
    t = Timings()
    with t.step("mode"):
        pass
    with t.step("prompts"):
        pass
    with pytest.raises(RuntimeError), t.step("aiperf"):
        raise RuntimeError  # a failed capture keeps no record, so no duration either
    assert list(t.seconds) == ["mode", "prompts"] and all(v >= 0 for v in t.seconds.values())


def test_a_job_adopting_its_pending_cell_imports_no_pandas(tmp_path):
    """With capture.unit: block, each other cell of the block is accepted by its own job (a process
    of its own): that path promotes the pending files without importing pandas or the measuring
    steps (~0.5 s per job on 2 cores)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    script = f"""
import json, sys
from pathlib import Path
from joulebench import config as C
from joulebench.capture import writeonce
from joulebench.capture.block import pending_dir
from joulebench.capture.cell import capture
from joulebench.paths import raw_dir
cfg = C.validate({dict(RAW_CFG, capture={"unit": "block"})!r})
first, second = C.cells(cfg)
pend = pending_dir(Path("."), second)
pend.mkdir(parents=True)
(pend / "aiperf.log").write_text("measured in the block")
(pend / writeonce.MARKER).write_text(json.dumps({{"cell_settings_hash": C.cell_settings_hash(cfg, second),
                                                  "block": {{"id": "block-1"}}}}))
rec = capture(cfg, second, raw_dir(second) / "cell.json", Path("config.yaml"))
print(json.dumps({{"block": rec["block"]["id"], "pandas": "pandas" in sys.modules,
                  "files": sorted(p.name for p in raw_dir(second).iterdir())}}))
"""
    env = {**os.environ, "PYTHONPATH": str(src), "JOULEBENCH_DEVICE_LOCK": str(tmp_path / "device.lock")}
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout.splitlines()[-1])
    assert got == {"block": "block-1", "pandas": False, "files": ["accepted.json", "aiperf.log", "cell.json"]}


def _dataset(tmp_path, monkeypatch, **sweep):
    import json

    from joulebench.capture import steps

    monkeypatch.setattr(steps, "model_prompts", lambda model, ctx, n, seed: [f"ctx{ctx}-{k}" for k in range(n)])
    c = C.validate({**RAW_CFG, "sweep": {**RAW_CFG["sweep"], "gen_tokens": [16], "warmup_requests": 2, **sweep}})
    tmp_path.mkdir(parents=True, exist_ok=True)
    prompts = steps.write_prompts(c, C.cells(c), None, tmp_path)
    lines = [json.loads(line) for line in prompts.dataset.read_text().splitlines()]
    return prompts, [(d["text"], d["output_length"]) for d in lines]


def test_the_warm_up_generates_as_much_as_its_cell_unless_capped(tmp_path, monkeypatch):
    prompts, lines = _dataset(tmp_path, monkeypatch)
    assert "warmup_output_tokens" not in C.validate(RAW_CFG)["sweep"]  # no default: cell hashes unchanged
    # 2 warm-ups (the first cell's prompt length), then 3 requests per cell, all of the cell's 16 tokens
    assert lines == [(f"ctx64-{k}", 16) for k in range(5)] + [(f"ctx128-{k}", 16) for k in range(3)]
    assert prompts.warm == 2 and prompts.line_cell == [0] * 5 + [1] * 3
    prompts, capped = _dataset(tmp_path / "capped", monkeypatch, warmup_output_tokens=2)
    assert capped == [("ctx64-0", 2), ("ctx64-1", 2)] + lines[2:]  # only the warm-ups' generation changes
    assert prompts.line_cell == [0] * 5 + [1] * 3
    _, wider = _dataset(tmp_path / "wider", monkeypatch, warmup_output_tokens=64)
    assert wider == lines  # a cap above the cell's generation changes nothing


def test_a_warm_up_cap_is_a_setting_of_the_capture():
    one = C.cells(cfg())[0]
    capped = C.validate({**RAW_CFG, "sweep": {**RAW_CFG["sweep"], "warmup_output_tokens": 2}})
    assert C.cell_settings_hash(capped, one) != C.cell_settings_hash(cfg(), one)
    with pytest.raises(Exception, match="warmup_output_tokens"):
        C.validate({**RAW_CFG, "sweep": {**RAW_CFG["sweep"], "warmup_output_tokens": 0}})
