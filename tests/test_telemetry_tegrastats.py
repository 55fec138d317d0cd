"""tegrastats parser on the real published lines and on every constructed edge case."""
from pathlib import Path

import pytest

from joulebench.telemetry.tegrastats import DEFAULT_RAILS, Rejected, majority_rails, parse_line, parse_stream

FIX = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "tegrastats"
if not FIX.exists():
    FIX = Path("/work/shared/fixtures/tegrastats")
PUBLISHED = FIX.joinpath("published-lines.txt").read_text().splitlines()
EDGE = FIX.joinpath("edge-cases.txt").read_text().split("\n")[:6]


@pytest.mark.parametrize("line", PUBLISHED)
def test_every_published_line_parses(line):
    p = parse_line(line, DEFAULT_RAILS)
    assert set(DEFAULT_RAILS) <= set(p["rails_mw"])
    assert all(v >= 0 for v in p["rails_mw"].values())
    assert "tj" in p["temps_c"] and "cpu" in p["temps_c"]  # upper-case CPU@ is normalised


def test_published_details():
    first = parse_line(PUBLISHED[0])
    assert first["rails_mw"] == {"VDD_IN": 2957, "VDD_CPU_GPU_CV": 486, "VDD_SOC": 1012}
    assert first["gpu_mhz"] == 305 and first["emc_mhz"] == 204
    three = parse_line(PUBLISHED[2])  # three values per rail, second temperature reading
    assert three["rails_mw"]["VDD_IN"] == 9761 and three["temps_c"]["cpu"] == 50.0
    off = parse_line(PUBLISHED[3])  # off cores, GR3D_FREQ 0%@305 without brackets, upper-case temps
    assert off["cpu_online"] == 4 and off["gpu_mhz"] == 305 and off["temps_c"]["gpu"] == pytest.approx(41.343)
    noclk = parse_line(PUBLISHED[1])  # GR3D_FREQ 0% without clock, no EMC_FREQ
    assert "gpu_mhz" not in noclk and "emc_mhz" not in noclk
    avg = parse_line(PUBLISHED[5])
    assert avg["rails_mw"]["VDD_IN"] == 4542 and avg["rails_avg_mw"]["VDD_IN"] == 4000


@pytest.mark.parametrize("idx,reason", [
    (0, "truncated"), (1, "missing rail"), (2, "empty"), (3, "non-printable"),
    (4, "no 'MM-DD-YYYY"), (5, "negative power"),
])
def test_each_edge_case_is_rejected_with_its_reason(idx, reason):
    line = EDGE[idx].replace("\\x00", "\x00")
    with pytest.raises(Rejected, match=reason):
        parse_line(line, DEFAULT_RAILS)


def test_unitless_line_rejected_for_units_when_labelled():
    line = "09-21-2025 15:38:19 " + EDGE[4]
    with pytest.raises(Rejected, match="without mW"):
        parse_line(line)


def test_stream_counts_rejections_and_learns_rails():
    lines = PUBLISHED + [e.replace("\\x00", "\x00") for e in EDGE]
    assert majority_rails(lines) == tuple(sorted(DEFAULT_RAILS))
    ok, rej = parse_stream(lines)
    # published lines are in no time order: only those not going back in time survive the stream check
    assert len(rej) >= 6 and len(ok) + len(rej) == len(lines)
    reasons = " | ".join(r for _, r in rej)
    for word in ("truncated", "missing rail", "empty", "non-printable", "negative", "earlier than"):
        assert word in reasons


def test_edge_file_alone_uses_majority_rails():
    ok, rej = parse_stream([e.replace("\\x00", "\x00") for e in EDGE])
    assert ok == [] and len(rej) == 6
