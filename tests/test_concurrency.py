"""The concurrency axis and what it needs, with known answers: paths, cells, config checks, server
and aiperf arguments, the slot plan against the GGUF's trained context, the /metrics scraper and
its summary, load metrics and goodput."""
import http.server
import json
import math
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from joulebench import config as C
from joulebench import paths as P
from joulebench.backends.base import Endpoint, ModelInfo
from joulebench.backends.llamacpp import server_argv
from joulebench.backends.ollama import OllamaBackend
from joulebench.backends.slots import slot_plan
from joulebench.capture.aiperf_cmd import aiperf_argv
from joulebench.capture.server_metrics import META, SAMPLES, MetricsScraper, parse_prometheus
from joulebench.config import Cell
from joulebench.errors import CaptureError, ConfigError
from joulebench.metrics import server_metrics
from joulebench.metrics.load import goodput_columns, load_columns
from joulebench.workflow import missing_cells_table

# llama-server build 11434's /metrics, cut to a few series (format as tools/server/server-task.cpp)
METRICS_TEXT = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 640
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 1200
llamacpp:n_decode_total 700
llamacpp:n_busy_slots_per_decode 1.5
llamacpp:requests_processing 2
llamacpp:requests_deferred 0
vllm:num_requests_running{model_name="m",engine="0"} 3
llamacpp:predicted_tokens_seconds nan
"""


def _cfg(default_config, **sweep):
    default_config["sweep"].update(sweep)
    return C.validate(default_config)


# --- axis, paths, cells --------------------------------------------------------------------------

def test_concurrency_one_keeps_todays_path_and_n_is_a_tagged_sibling():
    c1 = Cell("25W", "llamacpp", "m", 128, 32)
    assert c1.concurrency == 1 and P.cell_suffix(c1) == "25W/llamacpp/m/ctx128_gen32"
    c4 = Cell("25W", "llamacpp", "m", 128, 32, 3, concurrency=4)
    assert P.cell_suffix(c4) == "25W/llamacpp/m/ctx128_gen32_c4_t3"
    assert c4.key == ("25W", "llamacpp", "m", 128, 32, 4) and c4.key != c1.key and c4.block != c1.block
    wc = SimpleNamespace(mode="25W", backend="llamacpp", model="m", ctx="128", gen="32", concurrency="_c4",
                         trial="_t3")
    assert Cell.from_wildcards(wc) == c4
    assert Cell.from_row(c4.row()) == c4
    assert Cell.from_row({"mode": "a", "backend": "b", "model": "m", "ctx": 1, "gen": 2}).concurrency == 1
    for n in (1, 2, 16):
        assert P.concurrency_from_tag(P.concurrency_tag(n)) == n
    for bad in ("_c1", "_c", "c2", "_t2"):
        with pytest.raises(ValueError, match="not a concurrency tag"):
            P.concurrency_from_tag(bad)


def test_cells_run_each_concurrency_as_its_own_block(default_config):
    cfg = _cfg(default_config, concurrency=[1, 4], prompt_tokens=[128], gen_tokens=[32, 64])
    got = [(c.concurrency, c.gen) for c in C.cells(cfg)]
    assert got == [(1, 32), (1, 64), (4, 32), (4, 64)]
    assert C.wildcard_values(cfg)["concurrency"] == ["", "_c4"]
    assert C.cells(C.validate(default_config | {"sweep": {**default_config["sweep"], "concurrency": [1]}})) \
        == [c for c in C.cells(cfg) if c.concurrency == 1]
    # concurrency 1 keeps the hash it had before the axis existed; N is a setting of its own
    one = C.cells(cfg)[0]
    assert C.cell_settings_hash(cfg, one) == C.cell_settings_hash(_cfg(default_config, concurrency=[1]), one)
    assert C.cell_settings_hash(cfg, C.cells(cfg)[2]) != C.cell_settings_hash(cfg, Cell(*C.cells(cfg)[2].key[:5]))


def test_dry_run_table_shows_the_axis():
    cells = [Cell("d", "llamacpp", "m", 128, 32), Cell("d", "llamacpp", "m", 128, 32, 2, concurrency=4)]
    assert "128x32 128x32@4#2" in missing_cells_table(cells, lambda c: False)


@pytest.mark.parametrize("sweep, key", [
    ({"concurrency": [1, 8], "requests": 4}, "sweep.requests"),
    ({"concurrency": [4], "requests": "auto", "precision": {"min_requests": 3}}, "sweep.precision.min_requests"),
])
def test_too_few_requests_for_the_concurrency_names_the_key(default_config, sweep, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'.*concurrency"):
        _cfg(default_config, **sweep)


def test_ctx_size_in_extra_args_is_refused_at_concurrency(default_config):
    default_config["backends"]["llamacpp"]["extra_args"] = ["-c", "4096"]
    with pytest.raises(ConfigError, match="backends.llamacpp.extra_args.*ctx_size"):
        _cfg(default_config, concurrency=[1, 2])


# --- server and load generator -------------------------------------------------------------------

def _model(gguf):
    return ModelInfo(name="m", quant="Q4_K_M", gguf=Path(gguf), sha256=None, size_bytes=None, family=None,
                     chat_template=None, tokenizer_id="t", hf_home=None)


def test_llama_server_gets_n_slots_of_ctx_size(default_config):
    bcfg = C.validate(default_config)["backends"]["llamacpp"]
    argv = server_argv(Path("llama-server"), bcfg, _model("m.gguf"), 1, parallel=4)
    assert argv[argv.index("--parallel") + 1] == "4" and argv[argv.index("-c") + 1] == str(4 * 2560)
    assert "--metrics" in argv and argv[argv.index("--host") + 1] == "127.0.0.1"


def test_slot_plan_checks_the_trained_context(default_config, default_gguf):
    cfg = C.validate(default_config)
    plan = slot_plan("llamacpp", cfg["backends"]["llamacpp"], cfg["sweep"], 8, "gemma3-270m", default_gguf)
    assert plan == {"parallel": 8, "ctx_per_slot": 2560, "ctx_total": 20480, "need_per_slot": 512 + 64,
                    "n_ctx_train": 32768, "n_ctx_train_key": "gemma3.context_length"}
    sweep = {**cfg["sweep"], "prompt_tokens": [40000]}
    with pytest.raises(CaptureError, match=r"model gemma3-270m: .*40064.*trained on 32768 \(GGUF key gemma3.context_length"):
        slot_plan("llamacpp", {**cfg["backends"]["llamacpp"], "ctx_size": 50000}, sweep, 2, "gemma3-270m",
                  default_gguf)


def test_ollama_serve_gets_num_parallel(tmp_path):
    b = OllamaBackend("ollama", {"kind": "ollama", "binary": "/bin/true"}, tmp_path, concurrency=3)
    _, env = b._serve_argv()
    assert env["OLLAMA_NUM_PARALLEL"] == "3"


def test_aiperf_gets_concurrency_and_optional_request_rate(default_config):
    sweep = C.validate(default_config)["sweep"]
    ep = Endpoint(url="http://127.0.0.1:1", served_model="m")
    argv = aiperf_argv("aiperf", ep, "t", Path("d.jsonl"), sweep, Path("out"), concurrency=4)
    assert argv[argv.index("--concurrency") + 1] == "4" and "--request-rate" not in argv
    rate = C.validate(default_config | {"sweep": {**default_config["sweep"], "request_rate": {"rps": 2.5}}})["sweep"]
    argv = aiperf_argv("aiperf", ep, "t", Path("d.jsonl"), rate, Path("out"), concurrency=4)
    assert argv[argv.index("--request-rate") + 1] == "2.5" and argv[argv.index("--arrival-pattern") + 1] == "poisson"
    assert argv[argv.index("--random-seed") + 1] == "42"  # the seeded arrivals


# --- /metrics scrape ------------------------------------------------------------------------------

def test_prometheus_text_parses_with_labels_comments_and_nan():
    v = parse_prometheus(METRICS_TEXT)
    assert v["llamacpp:tokens_predicted_total"] == 1200 and v["llamacpp:n_busy_slots_per_decode"] == 1.5
    assert v['vllm:num_requests_running{model_name="m",engine="0"}'] == 3
    assert math.isnan(v["llamacpp:predicted_tokens_seconds"]) and len(v) == 8
    with pytest.raises(ValueError, match="not a Prometheus sample line"):
        parse_prometheus("llamacpp:requests_processing two")


class _Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = METRICS_TEXT.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_scraper_writes_lines_on_schedule_and_a_dead_server_only_records_errors(tmp_path):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        s = MetricsScraper(f"http://127.0.0.1:{srv.server_address[1]}/metrics", None, tmp_path, interval_s=0.05)
        s.start()
        time.sleep(0.4)
        meta = s.stop()
    finally:
        srv.shutdown()
    lines = [json.loads(x) for x in (tmp_path / SAMPLES).read_text().splitlines()]
    assert meta["samples"] == len(lines) >= 5 and meta["errors"] == 0 and meta["reason"] is None
    assert lines[0]["values"]["llamacpp:requests_processing"] == 2
    assert lines[0]["values"]["llamacpp:predicted_tokens_seconds"] == "nan"  # JSON has no NaN literal
    assert json.loads((tmp_path / META).read_text()) == meta

    dead = tmp_path / "dead"
    dead.mkdir()
    s = MetricsScraper("http://127.0.0.1:9/metrics", None, dead, interval_s=0.05)
    s.start()
    time.sleep(0.2)
    meta = s.stop()  # never raises
    assert meta["samples"] == 0 and meta["errors"] >= 1 and meta["reason"].startswith("no scrape succeeded")
    none = tmp_path / "none"
    none.mkdir()
    meta = MetricsScraper(None, "Ollama serves no Prometheus /metrics endpoint", none).stop()
    assert meta["reason"] == "Ollama serves no Prometheus /metrics endpoint" and not (none / SAMPLES).exists()


def _write_scrape(d: Path, rows):
    with open(d / SAMPLES, "w") as fh:
        for t_s, values in rows:
            fh.write(json.dumps({"t_ns": int(t_s * 1e9), "mono_ns": 0, **(
                {"values": values} if values else {"error": "URLError: refused"})}) + "\n")
    (d / META).write_text(json.dumps({"interval_ms": 250, "reason": None, "first_error": None}))


def test_summary_of_a_scrape_known_answer(tmp_path):
    def v(pred, prompt, proc, busy, dec):
        return {"llamacpp:tokens_predicted_total": pred, "llamacpp:prompt_tokens_total": prompt,
                "llamacpp:requests_processing": proc, "llamacpp:requests_deferred": 0,
                "llamacpp:n_busy_slots_per_decode": busy, "llamacpp:n_decode_total": dec}
    _write_scrape(tmp_path, [
        (9.0, v(0, 0, 0, 1.0, 10)),           # before the span: not counted
        (10.0, v(100, 64, 2, 1.0, 100)),      # 100 decodes so far, 1 busy slot each
        (10.25, None),                        # a failed scrape inside the span
        (10.5, v(150, 128, 1, 4 / 3, 150)),
        (11.0, v(200, 128, 2, 1.5, 200)),     # decodes 100..200 had 2 busy slots each
        (11.75, v(260, 128, 0, 1.5, 230)),    # first scrape after the span: the last completion counted
        (12.0, v(999, 999, 0, 1.0, 999)),     # later: not counted
    ])
    out = server_metrics.summarise(tmp_path, int(9.5e9), int(11.5e9))
    assert out["server_metrics_samples"] == 3 and out["server_metrics_errors"] == 1
    assert out["server_metrics_interval_ms"] == 250
    # the scrape worked; the one gauge this server never exported is named (llama.cpp 11434 has no KV gauge)
    assert out["server_metrics_reason"].startswith("not exported by the server: kv_cache_usage_ratio (")
    assert "requests_processing" not in out["server_metrics_reason"]
    # tokens count at completion: first scrape >= start (100) to first scrape >= end (260), over the 2 s span
    assert out["server_tokens_predicted"] == 160 and out["server_tokens_predicted_per_s"] == pytest.approx(80.0)
    assert out["server_requests_processing_mean"] == pytest.approx(5 / 3)
    assert out["server_requests_processing_max"] == 2 and out["server_requests_deferred_max"] == 0
    assert out["server_busy_slots_per_decode"] == pytest.approx(2.0)  # (1.5*200 - 1*100) / 100
    assert math.isnan(out["server_kv_cache_usage_ratio_mean"])  # not exposed: NaN


def test_summary_without_a_scrape_says_why(tmp_path):
    out = server_metrics.summarise(tmp_path, 0, 10)
    assert out["server_metrics_samples"] == 0 and "no server_metrics_meta.json" in out["server_metrics_reason"]
    assert math.isnan(out["server_tokens_predicted_per_s"]) and math.isnan(out["server_tokens_predicted"])


# --- load metrics and goodput ---------------------------------------------------------------------

def _requests():
    # two streams: [0, 2] s, [0.5, 3] s, [2, 4] s, [3, 4] s -> span 4 s
    s = 1e9
    return pd.DataFrame({
        "start_ns": np.array([0, 0.5, 2, 3]) * s, "end_ns": np.array([2, 3, 4, 4]) * s,
        "latency_ms": [2000.0, 2500.0, 2000.0, 1000.0], "osl": pd.array([10, 10, 20, 20], dtype="Int64"),
        "ttft_ms": [100.0, 300.0, 250.0, np.nan], "itl_ms": [20.0, 50.0, 30.0, 30.0],
        "server_prompt_ms": [90.0, 100.0, 200.0, 40.0], "error": [None, None, None, None],
    }).astype({"start_ns": "int64", "end_ns": "int64"})


def test_load_columns_known_answer():
    out = load_columns(_requests())
    assert out["load_span_s"] == 4.0
    assert out["system_output_tok_s"] == 60 / 4 and out["request_throughput_rps"] == 1.0
    assert out["achieved_concurrency"] == pytest.approx(7.5 / 4)
    # queue delays 10, 200, 50 (the 4th has no TTFT): linear percentiles
    assert out["queue_delay_ms_p50"] == 50.0 and out["queue_delay_ms_p95"] == pytest.approx(50 + 0.9 * 150)
    assert out["queue_delay_n"] == 3


def test_goodput_known_answer_and_no_slo():
    df = _requests()
    df.loc[2, "error"] = '{"code": 500}'
    out = goodput_columns(df, {"ttft_ms": 260.0, "itl_ms": 40.0})
    # 0: good; 1: ITL 50 > 40; 2: errored; 3: TTFT missing -> fails
    assert list(df["slo_good"]) == [True, False, False, False]
    assert out["n_good"] == 1 and out["goodput_fraction"] == 0.25 and out["goodput_rps"] == 0.25
    assert (out["slo_ttft_ms"], out["slo_itl_ms"]) == (260.0, 40.0) and out["goodput_reason"] is None
    only_ttft = goodput_columns(_requests(), {"ttft_ms": 260.0})
    assert only_ttft["n_good"] == 2 and math.isnan(only_ttft["slo_itl_ms"])
    none = goodput_columns(_requests(), {})
    assert math.isnan(none["goodput_rps"]) and none["goodput_reason"].startswith("no slo set")
