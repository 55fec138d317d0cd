"""The tokenizer handed to aiperf: a one-token stand-in, because aiperf tokenizes nothing here.

aiperf 0.13 loads `--tokenizer` at every start, for synthetic prompts and client-side token counts.
joulebench uses neither: the prompts come from a file (exact lengths, built with the model's own
tokenizer: prompts.py) and the token counts from the server (`--use-server-token-count`, checked
exactly by accept.py). Loading gemma3's 262k-token tokenizer only to leave it unused cost 4.9 s of
every aiperf start on 2 cores (benchmarks/RESULTS.md, 2026-12-03); this one loads in what importing
transformers takes. tests/test_integration_block.py checks aiperf still sends joulebench's prompts
verbatim; the record keeps the model's tokenizer (`model.tokenizer`).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..models.tokenizer import hf_home, install_snapshot, snapshot_dir

# the name says why in every recorded aiperf command line
REPO_ID = "local/unused-server-counts-tokens"


def _write(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "<unk>"}) + "\n")


def aiperf_tokenizer() -> tuple[str, Path]:
    """(the --tokenizer for aiperf, the HF_HOME it is found in, offline), built once per cache."""
    if not (snapshot_dir(REPO_ID) / "tokenizer.json").exists():
        install_snapshot(REPO_ID, _write)
    return REPO_ID, hf_home()
