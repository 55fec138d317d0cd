import json

import pytest

from joulebench.parse.aggregate_records import aggregate


def test_recomputed_statistics_equal_aiperfs_own(aiperf_fixture_dir):
    recs = [json.loads(l) for l in (aiperf_fixture_dir / "profile_export.jsonl").read_text().splitlines()]
    ours = aggregate(recs)
    theirs = json.loads((aiperf_fixture_dir / "profile_export_aiperf.json").read_text())
    for metric in ("time_to_first_token", "inter_token_latency", "request_latency",
                   "output_token_throughput_per_user", "prefill_throughput_per_user", "time_to_second_token"):
        for stat in ("avg", "p1", "p25", "p50", "p90", "p99", "min", "max", "std"):
            assert ours[metric][stat] == pytest.approx(theirs[metric][stat], rel=1e-9), (metric, stat)
    # duration is first start -> last end: within 0.1 % of aiperf's phase-based figure here
    assert ours["benchmark_duration"]["avg"] == pytest.approx(theirs["benchmark_duration"]["avg"], rel=1e-3)
    assert ours["request_count"]["avg"] == 5.0
