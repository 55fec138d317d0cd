import os

import pytest

from joulebench.capture import writeonce


def test_promote_moves_marker_last_and_makes_read_only(tmp_path):
    staging = tmp_path / "cell" / ".staging-1"
    (staging / "aiperf").mkdir(parents=True)
    (staging / "aiperf" / "x.jsonl").write_text("{}\n")
    (staging / "cell.json").write_text("{}")
    writeonce.promote(staging, tmp_path / "cell")
    assert not staging.exists()
    assert (tmp_path / "cell" / "cell.json").exists()
    assert not os.access(tmp_path / "cell" / "aiperf" / "x.jsonl", os.W_OK) or os.geteuid() == 0
    mode = (tmp_path / "cell" / "aiperf" / "x.jsonl").stat().st_mode
    assert mode & 0o222 == 0


def test_promote_refuses_to_overwrite(tmp_path):
    cell = tmp_path / "cell"
    (cell / "aiperf").mkdir(parents=True)
    staging = cell / ".staging-2"
    (staging / "aiperf").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="write-once"):
        writeonce.promote(staging, cell)


def test_leftovers_are_moved_aside_not_deleted(tmp_path):
    cell = tmp_path / "raw" / "m" / "b" / "x" / "ctx1_gen1"
    (cell / ".staging-9" / "aiperf").mkdir(parents=True)
    (cell / ".staging-9" / "aiperf" / "profile_export.jsonl").write_text("partial")
    dest = writeonce.stash_leftovers(cell, tmp_path / "incomplete", "m/b/x/ctx1_gen1", "interrupted")
    assert dest is not None and dest.is_dir()
    assert (dest / ".staging-9" / "aiperf" / "profile_export.jsonl").read_text() == "partial"
    assert list(cell.iterdir()) == []
    assert writeonce.stash_leftovers(cell, tmp_path / "incomplete", "s", "again") is None
