"""Block bookkeeping of a capture without a device: which cells one run measures, where their files
stage, and that a failure moves every staging folder aside (nothing deleted)."""
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
    assert B.splits_into_cells(cfg()) is False
    assert B.splits_into_cells(cfg(unit="block")) is True
    auto = C.validate({**RAW_CFG, "capture": {"unit": "block"}, "sweep": {**RAW_CFG["sweep"], "requests": "auto"}})
    assert B.splits_into_cells(auto) is False  # requests: auto stops per cell


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
