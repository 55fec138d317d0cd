"""The tokenizer stand-in aiperf is given (capture/aiperf_tokenizer.py): aiperf's own loader reads it
offline from joulebench's cache, and it is built once."""
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_aiperf_loads_the_stand_in_offline_and_it_is_built_once(tmp_path):
    script = """
import json, os
from joulebench.capture.aiperf_tokenizer import aiperf_tokenizer
from joulebench.models.tokenizer import snapshot_dir
repo, home = aiperf_tokenizer()
first = (snapshot_dir(repo) / "tokenizer.json").stat().st_mtime_ns
assert aiperf_tokenizer() == (repo, home)
again = (snapshot_dir(repo) / "tokenizer.json").stat().st_mtime_ns
os.environ.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # as capture/load.py
from aiperf.common.tokenizer import Tokenizer
tok = Tokenizer.from_pretrained(repo, resolve_alias=False)
print(json.dumps({"repo": repo, "home": str(home), "rebuilt": first != again,
                  "ids": tok.encode("any prompt at all"), "special": tok.num_prompt_special_tokens()}))
"""
    env = {**os.environ, "PYTHONPATH": str(SRC), "JOULEBENCH_CACHE": str(tmp_path)}
    for k in ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(k, None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.splitlines()[-1])
    # every word is the one unknown token; no special tokens (aiperf would count them for synthetic prompts)
    assert got == {"repo": "local/unused-server-counts-tokens", "home": str(tmp_path / "hf"), "rebuilt": False,
                   "ids": [0, 0, 0, 0], "special": 0}
