"""Block capture on the real pipeline: one aiperf run for all missing cells of a (mode, backend,
model), each cell's job still producing only its own, self-contained raw directory."""
import json

import pandas as pd
import pytest
import yaml

from test_integration_pipeline import REPO, free_port, snakemake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def block_dir(tmp_path_factory):
    wd = tmp_path_factory.mktemp("block")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["backends"]["llamacpp"]["port"] = free_port()
    cfg["capture"] = {"unit": "block"}
    cfg["sweep"].update(prompt_tokens=[64, 128], gen_tokens=[8, 16], requests=3, warmup_requests=1)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(wd, "--cores", "1", "results/default/llamacpp")
    return wd


def test_one_aiperf_run_for_the_block(block_dir):
    model_dir = block_dir / "results/raw/default/llamacpp/gemma3-270m"
    blocks = sorted(model_dir.glob("block-*"))
    assert len(blocks) == 1
    cells = sorted(p.parent.name for p in model_dir.glob("ctx*/cell.json"))
    assert cells == ["ctx128_gen16", "ctx128_gen8", "ctx64_gen16", "ctx64_gen8"]
    metas = [json.loads((model_dir / c / "cell.json").read_text()) for c in cells]
    assert {m["block"]["id"] for m in metas} == {blocks[0].name}
    # nothing left waiting
    assert not list((block_dir / "results/.run/pending").rglob("cell.json"))


def test_each_cell_holds_only_its_own_requests(block_dir):
    req = pd.read_parquet(block_dir / "results/default/llamacpp/requests.parquet")
    assert len(req) == 4 * 3
    assert (req["isl"].astype(int) == req["ctx"]).all()
    assert (req["osl"].astype(int) == req["gen"]).all()
    s = pd.read_parquet(block_dir / "results/default/llamacpp/summary.parquet")
    assert (s["n_requests"] == 3).all()
    # the per-cell summary is recomputed from that cell's records
    for _, row in s.iterrows():
        mine = req[(req.ctx == row.ctx) & (req.gen == row.gen)]
        assert row["ttft_ms_p50"] == pytest.approx(mine["ttft_ms"].median())


def test_aiperf_sends_joulebench_prompts_verbatim(block_dir):
    """`--prompt-corpus random` and the stand-in tokenizer (capture/aiperf_tokenizer.py) only skip
    aiperf's work on synthetic prompts: every request aiperf built (its inputs.json) carries the
    exact-length prompt and output length from the file (the lengths the server counted: above)."""
    from joulebench.capture.aiperf_tokenizer import REPO_ID

    block = next((block_dir / "results/raw/default/llamacpp/gemma3-270m").glob("block-*"))
    meta = json.loads(next(block.parent.glob("ctx*/cell.json")).read_text())
    argv = meta["aiperf_argv"]
    assert argv[argv.index("--prompt-corpus") + 1] == "random"
    assert argv[argv.index("--tokenizer") + 1] == REPO_ID and meta["model"]["tokenizer"] != REPO_ID
    ours = [json.loads(line) for line in (block / "prompts.jsonl").read_text().splitlines()]
    sent = json.loads((block / "aiperf/inputs.json").read_text())["data"]
    assert len(sent) == len(ours) == 4 * 3 + 1  # + the warm-up request
    for mine, theirs in zip(ours, sent):
        payload = theirs["payloads"][0]
        assert payload["messages"] == [{"role": "user", "content": mine["text"]}]
        assert payload.get("max_completion_tokens", payload.get("max_tokens")) == mine["output_length"]
