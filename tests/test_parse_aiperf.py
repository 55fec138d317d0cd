import json
import shutil

import pytest

from joulebench.errors import ParseError
from joulebench.parse.aiperf import parse_aggregate, parse_requests


def test_requests_from_real_export(aiperf_fixture_dir):
    df = parse_requests(aiperf_fixture_dir)
    assert len(df) == 5
    assert list(df["request_idx"]) == [0, 1, 2, 3, 4]
    first = df.iloc[0]
    # the first request of the fixture, values read from profile_export.jsonl by hand
    assert first["start_ns"] == 1795526479840071196
    assert first["ttft_ms"] == pytest.approx(457.437786)
    # first token = start + TTFT, not the HTTP ack (6.5 ms after start)
    assert first["first_token_ns"] == 1795526479840071196 + round(457.437786 * 1e6)
    assert first["ack_ns"] - first["start_ns"] == 6496810
    assert (df["first_token_ns"] > df["start_ns"]).all() and (df["first_token_ns"] < df["end_ns"]).all()
    # server-side counts (usage) win over aiperf's own tokenizer count (127 client vs 136 server)
    assert int(first["isl"]) == 136 and first["isl_client"] == 127
    assert int(first["osl"]) == 32
    # llama-server's own timings from the raw SSE export
    assert int(first["server_prompt_n"]) == 136
    assert first["server_predicted_per_second"] == pytest.approx(44.17376534325865)


def test_aggregate_keeps_every_percentile(aiperf_fixture_dir):
    agg = parse_aggregate(aiperf_fixture_dir)
    assert agg["ttft_ms_p50"] == pytest.approx(424.798853)
    assert agg["itl_ms_p99"] == pytest.approx(25.870105602580644)
    assert agg["aiperf_version"] == "0.13.0"
    for stat in ("avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min", "max", "std"):
        assert f"latency_ms_{stat}" in agg


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_truncated_jsonl_names_file_and_line(aiperf_fixture_dir, tmp_path):
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    p = d / "profile_export.jsonl"
    lines = p.read_text().splitlines()
    p.chmod(0o644)
    p.write_text("\n".join(lines[:2] + [lines[2][:100]]) + "\n")
    with pytest.raises(ParseError, match=r"profile_export.jsonl:3: invalid JSON"):
        parse_requests(d)


def test_record_without_timestamps_is_rejected(aiperf_fixture_dir, tmp_path):
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    p = d / "profile_export.jsonl"
    recs = [json.loads(l) for l in p.read_text().splitlines()]
    del recs[1]["metadata"]["request_end_ns"]
    p.chmod(0o644)
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    with pytest.raises(ParseError, match=r":2: record lacks request_start_ns/request_end_ns"):
        parse_requests(d)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ParseError, match="profile_export.jsonl: file missing"):
        parse_requests(tmp_path)
    with pytest.raises(ParseError, match="profile_export_aiperf.json: file missing"):
        parse_aggregate(tmp_path)


def test_aggregate_missing_metrics(aiperf_fixture_dir, tmp_path):
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    p = d / "profile_export_aiperf.json"
    data = json.loads(p.read_text())
    del data["time_to_first_token"]
    p.chmod(0o644)
    p.write_text(json.dumps(data))
    with pytest.raises(ParseError, match="missing metrics \\['time_to_first_token'\\]"):
        parse_aggregate(d)


def test_warmup_records_are_excluded(aiperf_fixture_dir, tmp_path):
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    p = d / "profile_export.jsonl"
    recs = [json.loads(l) for l in p.read_text().splitlines()]
    recs[0]["metadata"]["benchmark_phase"] = "warmup"
    p.chmod(0o644)
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert len(parse_requests(d)) == 4
    assert len(parse_requests(d, include_warmup=True)) == 5
