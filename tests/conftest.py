import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JOULEBENCH_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
sys.path.insert(0, str(REPO / "src"))


@pytest.fixture
def aiperf_fixture_dir():
    d = FIXTURES / "aiperf-0.13-llama-server"
    if not d.exists():
        pytest.fail(f"fixture {d} missing: ../shared must sit beside the repo")
    return d


def load_default_config() -> dict:
    import yaml

    with open(REPO / "config.yaml") as fh:
        return yaml.safe_load(fh)


@pytest.fixture
def default_config():
    return load_default_config()  # a fresh dict: tests may edit it


@pytest.fixture(scope="session")
def default_gguf():
    """The default config's real GGUF (gemma3-270m Q4_K_M), resolved as the pipeline does."""
    from joulebench.models.sources import resolve_gguf

    models = load_default_config()["models"]
    name = next(iter(models))
    return resolve_gguf(name, models[name], REPO)
