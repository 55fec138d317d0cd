"""Malformed aiperf 0.13 exports (the real export in ../shared/fixtures, damaged): each is either a
ParseError naming the file (and line), or a parsed table that validation rejects naming the
requests. Nothing is ever accepted with a value invented for a missing one."""
import json
import shutil

import pytest

from joulebench.capture.validate import problems
from joulebench.errors import ParseError
from joulebench.parse.aiperf import parse_aggregate, parse_requests

CTX, GEN, N = None, None, 5  # filled from the fixture


def _copy(src, dst):
    """The fixture, writable. One of its 5 requests came out 137 tokens long instead of 136 (the
    aiperf synthetic-prompt issue joulebench's own prompts fix): make it 136 so that the undamaged
    copy is a cell validation accepts, and every rejection below is caused by the damage."""
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        if p.is_file():
            p.chmod(0o644)
    recs = _records(dst)
    for r in recs:
        for key in ("usage_prompt_tokens", "input_sequence_length"):
            if key in r.get("metrics", {}):
                r["metrics"][key]["value"] = 136
    _write(dst, recs)
    return dst


def _records(d):
    return [json.loads(x) for x in (d / "profile_export.jsonl").read_text().splitlines() if x.strip()]


def _write(d, recs):
    (d / "profile_export.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")


def _targets(d):
    df = parse_requests(d)
    return int(df["isl"].iloc[0]), int(df["osl"].iloc[0]), len(df)


def _jsonl(text_fn):
    def apply(d):
        p = d / "profile_export.jsonl"
        p.write_text(text_fn(p.read_text()))
    return apply


def _recs(fn):
    def apply(d):
        recs = _records(d)
        fn(recs)
        _write(d, recs)
    return apply


def _drop_metric(name):
    def fn(recs):
        del recs[1]["metrics"][name]
    return fn


def _agg(fn):
    def apply(d):
        p = d / "profile_export_aiperf.json"
        p.write_text(fn(p.read_text()))
    return apply


# (id, damage, what must happen: ("parse", regex) or ("reject", substring of a validation problem))
CASES = [
    ("records: truncated last line", _jsonl(lambda t: t[: len(t) - 200]), ("parse", r"profile_export.jsonl:\d+: invalid JSON")),
    ("records: cut mid-file", _jsonl(lambda t: t[: len(t) // 2]), ("parse", r"profile_export.jsonl:\d+: invalid JSON")),
    ("records: garbage line", _jsonl(lambda t: t.replace("\n", "\n{not json\n", 1)), ("parse", r"profile_export.jsonl:2: invalid JSON")),
    ("records: a JSON list line", _jsonl(lambda t: "[1, 2]\n" + t), ("parse", r"profile_export.jsonl:1: expected one JSON object")),
    ("records: binary junk", _jsonl(lambda t: "\x00\x01\x02garbage\n" + t), ("parse", r"profile_export.jsonl:1: invalid JSON \(not UTF-8")),
    ("records: file missing", lambda d: (d / "profile_export.jsonl").unlink(), ("parse", r"profile_export.jsonl: file missing")),
    ("records: empty file", _jsonl(lambda t: ""), ("parse", r"profile_export.jsonl: no profiling records")),
    ("records: fewer than requests", _recs(lambda r: r.pop()), ("reject", "profiling records, expected")),
    ("records: more than requests", _recs(lambda r: r.append(json.loads(json.dumps(r[0])))), ("reject", "profiling records, expected")),
    ("records: no metadata", _recs(lambda r: r[0].pop("metadata")), ("parse", r":1: record has no 'metadata' object")),
    ("records: no start stamp", _recs(lambda r: r[2]["metadata"].pop("request_start_ns")), ("parse", r":3: record lacks request_start_ns")),
    ("records: stamp not a number", _recs(lambda r: r[2]["metadata"].update(request_end_ns="soon")), ("parse", r":3: record lacks request_start_ns/request_end_ns")),
    ("records: no metrics at all", _recs(lambda r: r[1].pop("metrics")), ("reject", "request 1")),
    ("records: TTFT missing", _recs(_drop_metric("time_to_first_token")), ("reject", "first token")),
    ("records: server ISL missing, aiperf's count kept", _recs(_drop_metric("usage_prompt_tokens")), ("accept", None)),
    # the server's usage count missing: aiperf's own count of the same tokens is used (measured,
    # not invented; with --use-server-token-count it is the server's count anyway)
    ("records: server OSL missing, aiperf's count kept", _recs(_drop_metric("usage_completion_tokens")), ("accept", None)),
    ("records: OSL missing entirely", _recs(lambda r: [r[1]["metrics"].pop(k) for k in ("usage_completion_tokens", "output_sequence_length")]), ("reject", "OSL <NA>")),
    ("records: ISL missing entirely", _recs(lambda r: [r[1]["metrics"].pop(k) for k in ("usage_prompt_tokens", "input_sequence_length")]), ("reject", "ISL <NA>")),
    ("records: ISL off by one", _recs(lambda r: r[0]["metrics"]["usage_prompt_tokens"].update(value=r[0]["metrics"]["usage_prompt_tokens"]["value"] + 1)), ("reject", "ISL")),
    ("records: OSL short (early EOS)", _recs(lambda r: r[0]["metrics"]["usage_completion_tokens"].update(value=1)), ("reject", "OSL 1")),
    ("records: an error record", _recs(lambda r: r[3].update(error={"code": 500, "message": "server exploded"})), ("reject", "server exploded")),
    ("records: a cancelled request", _recs(lambda r: r[3]["metadata"].update(was_cancelled=True)), ("reject", "cancelled")),
    ("records: TTFT beyond the request", _recs(lambda r: r[0]["metrics"]["time_to_first_token"].update(value=1e9)), ("reject", "first token")),
    ("records: all warm-up", _recs(lambda r: [x["metadata"].update(benchmark_phase="warmup") for x in r]), ("parse", r"profile_export.jsonl: no profiling records")),
    ("raw SSE: truncated (timings optional)", lambda d: (d / "profile_export_raw.jsonl").write_text((d / "profile_export_raw.jsonl").read_text()[:500]), ("parse", r"profile_export_raw.jsonl:1: invalid JSON")),
    ("aggregate: file missing", lambda d: (d / "profile_export_aiperf.json").unlink(), ("aggregate", r"profile_export_aiperf.json: file missing")),
    ("aggregate: truncated", _agg(lambda t: t[: len(t) // 2]), ("aggregate", r"profile_export_aiperf.json")),
    ("aggregate: not an object", _agg(lambda t: "[]"), ("aggregate", r"profile_export_aiperf.json")),
    ("aggregate: TTFT missing", _agg(lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "time_to_first_token"})), ("aggregate", r"missing metrics \['time_to_first_token'\]")),
    ("aggregate: every metric missing", _agg(lambda t: "{}"), ("aggregate", r"missing metrics")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_damaged_export_is_refused(case, aiperf_fixture_dir, tmp_path):
    _, damage, (kind, expect) = case
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    ctx, gen, n = _targets(d)
    damage(d)
    if kind == "parse":
        with pytest.raises(ParseError, match=expect):
            parse_requests(d)
    elif kind == "aggregate":
        with pytest.raises(ParseError, match=expect):
            parse_aggregate(d)
    elif kind == "accept":
        assert problems(parse_requests(d), ctx, gen, n) == []
    else:
        df = parse_requests(d)
        bad = problems(df, ctx, gen, n)
        assert bad, "a damaged export was accepted"
        assert any(expect in b for b in bad), bad


def test_the_undamaged_fixture_is_accepted(aiperf_fixture_dir, tmp_path):
    d = _copy(aiperf_fixture_dir, tmp_path / "cell")
    ctx, gen, n = _targets(d)
    assert problems(parse_requests(d), ctx, gen, n) == []
    parse_aggregate(d)
