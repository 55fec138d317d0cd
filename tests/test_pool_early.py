"""analysis/workers.start_server_early: the pool's server starts at parse time only for a run that
will analyse many captured cells and capture nothing."""
import os

import pytest

from joulebench.analysis import workers
from joulebench.analysis.cache import KEY_FILE
from joulebench.config import Cell
from joulebench.paths import CELLS, RAW, cell_file

N = workers.POOL_MIN_CELLS + 2
ALL = [Cell("7W", "llamacpp", "m", 128 * (i + 1), 128) for i in range(N)]


def tree(tmp_path, captured: int, analysed: int) -> None:
    for i, c in enumerate(ALL):
        for root, name, present in ((RAW, "cell.json", i < captured), (CELLS, KEY_FILE, i < analysed)):
            if present:
                path = tmp_path / cell_file(root, c, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}")


@pytest.mark.parametrize("workers_, captured, analysed, starts", [
    (2, N, 0, True),  # a fresh tree: every cell captured, none analysed
    (2, N, N - workers.POOL_MIN_CELLS, True),  # new captures beside analysed ones
    (2, N, N - workers.POOL_MIN_CELLS + 1, False),  # too few for the pool (a re-measured cell)
    (2, N - 1, 0, False),  # a cell left to capture: nothing starts beside it
    (1, N, 0, False),  # one core: no pool
])
def test_server_starts_early_only_for_many_captured_cells_to_analyse(tmp_path, monkeypatch, workers_, captured,
                                                                      analysed, starts):
    tree(tmp_path, captured, analysed)
    started = []
    monkeypatch.setattr(workers, "_server_context", lambda: started.append(os.getcwd()))
    monkeypatch.chdir(tmp_path)
    workers.start_server_early(workers_, ALL)
    assert bool(started) == starts
