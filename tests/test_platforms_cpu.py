"""CPU platform: thread-count mode info is recorded and checked."""
import os

import pytest

from joulebench.errors import CaptureError
from joulebench.platforms.cpu import CpuPlatform


def test_threads_recorded_in_state():
    plat = CpuPlatform()
    plat.apply_mode("t1", {"threads": 1})
    state = plat.read_state()
    assert state["threads"] == 1 and state["cpus_allowed"] == len(os.sched_getaffinity(0))
    plat.verify("t1", {"threads": 1}, state)


def test_more_threads_than_cpus_is_refused():
    plat = CpuPlatform()
    cfg = {"threads": len(os.sched_getaffinity(0)) + 1}
    plat.apply_mode("too-many", cfg)
    with pytest.raises(CaptureError, match="server threads"):
        plat.verify("too-many", cfg, plat.read_state())


def test_governor_mismatch_is_refused():
    plat = CpuPlatform()
    plat.apply_mode("perf", {"governor": "performance"})
    state = dict(plat.read_state(), governor="powersave")
    with pytest.raises(CaptureError, match="governor"):
        plat.verify("perf", {"governor": "performance"}, state)
