"""Two backends on real data: the managed llama-server (llamacpp) and the `openai` backend pointed at
a second, independently started llama-server, so the backend comparison tables are computed from
real measurements."""
import subprocess
import time
import urllib.request

import pandas as pd
import pytest
import yaml

from test_integration_pipeline import REPO, free_port, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def second_server():
    from joulebench.toolchain.llamacpp import find_binary, source_dir
    from joulebench.models.sources import resolve_gguf

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    gguf = resolve_gguf("gemma3-270m", cfg["models"]["gemma3-270m"])
    port = free_port()
    tmpl = source_dir() / "models/templates/google-gemma-2-2b-it.jinja"
    argv = ["taskset", "-c", "1", str(find_binary("llama-server")), "-m", str(gguf), "--host", "127.0.0.1",
            "--port", str(port), "--parallel", "1", "-c", "2560", "--no-cache-prompt", "--cache-ram", "0",
            "-ngl", "0", "-t", "1", "-a", "gemma3-270m", "--jinja", "--chat-template-file", str(tmpl)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("second llama-server did not come up")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def two_backend_run(tmp_path_factory, second_server):
    wd = tmp_path_factory.mktemp("twobackends")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["backends"]["llamacpp"]["port"] = free_port()
    cfg["backends"]["remote"] = {"kind": "openai", "url": second_server}
    cfg["sweep"].update(prompt_tokens=[64, 128], gen_tokens=[16], requests=3, warmup_requests=1)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(wd, "--cores", "1")
    return wd


def test_both_backends_measured_exactly(two_backend_run):
    req = pd.read_parquet(two_backend_run / "results/requests.parquet")
    assert sorted(req["backend"].unique()) == ["llamacpp", "remote"]
    assert (req["isl"].astype(int) == req["ctx"]).all() and (req["osl"].astype(int) == req["gen"]).all()
    s = pd.read_parquet(two_backend_run / "results/summary.parquet")
    assert set(s.loc[s.backend == "remote", "backend_kind"]) == {"openai"}


def test_backend_ratio_table_from_real_data(two_backend_run):
    figs = two_backend_run / "results/figures"
    s = pd.read_parquet(two_backend_run / "results/summary.parquet")
    tables = sorted(figs.glob("ratio_tables*.csv"))
    assert tables, sorted(p.name for p in figs.iterdir())[:50]
    text = tables[0].read_text()
    # the tok/s ratio at the canonical cell, recomputed here from the summary
    canon = s[(s.ctx == 128) & (s.gen == 16)].set_index("backend")
    col = "output_tok_s_per_user_p50"  # the seed's tok/s: per-user output throughput, p50
    want = canon.loc["llamacpp", col] / canon.loc["remote", col]
    got = pd.read_csv(tables[0]).set_index("model").loc["gemma3-270m", "Tok/s ratio"]
    assert got == pytest.approx(want, rel=1e-9), (want, text)
