import copy

import pytest

from joulebench import config as C
from joulebench.errors import ConfigError


def test_default_config_validates_and_fills_defaults(default_config):
    cfg = C.validate(default_config)
    assert cfg["sweep"]["seed"] == 42
    assert cfg["telemetry"]["source"] == "auto"
    cells = C.cells(cfg)
    assert len(cells) == 4
    assert {(c.ctx, c.gen) for c in cells} == {(128, 32), (128, 64), (512, 32), (512, 64)}
    assert C.canonical(cfg) == (512, 64)


@pytest.mark.parametrize(
    "mutate, key_in_message",
    [
        (lambda c: c.update(unknown_key=1), "unknown_key"),
        (lambda c: c["sweep"].update(requests="five"), "sweep.requests"),
        (lambda c: c["sweep"].update(prompt_tokens=[]), "sweep.prompt_tokens"),
        (lambda c: c.update(platform="toaster"), "allowed values: auto, cpu, jetson, nvidia-gpu"),
        (lambda c: c["backends"]["llamacpp"].update(kind="vllm"), "backends.llamacpp.kind"),
        (lambda c: c["models"]["gemma3-270m"].update(source={}), "models.gemma3-270m.source"),
        (lambda c: c["modes"].update({"raw": {}}), "modes"),
        (lambda c: c["modes"].update({"a/b": {}}), "modes"),
        (lambda c: c["backends"]["llamacpp"].update(port=70000), "backends.llamacpp.port"),
    ],
)
def test_bad_config_names_the_key(default_config, mutate, key_in_message):
    cfg = copy.deepcopy(default_config)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        C.validate(cfg, source="config.yaml")
    msg = str(err.value)
    assert "config.yaml" in msg
    assert key_in_message in msg


def test_unknown_top_level_key_lists_allowed_keys(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["modez"] = {}
    with pytest.raises(ConfigError, match=r"allowed keys: .*modes"):
        C.validate(cfg)


def test_overlapping_pinning_is_rejected(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["pinning"]["client_cores"] = "0-1"
    with pytest.raises(ConfigError, match="overlap on cores \\[1\\]"):
        C.validate(cfg)


def test_canonical_cell_must_be_in_sweep(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["sweep"]["canonical_ctx"] = 2048
    with pytest.raises(ConfigError, match="sweep.canonical_ctx"):
        C.validate(cfg)


def test_duplicate_names_across_sections(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["modes"]["LlamaCpp"] = {}
    with pytest.raises(ConfigError, match="used twice"):
        C.validate(cfg)


def test_openai_backend_needs_url(default_config):
    cfg = copy.deepcopy(default_config)
    cfg["backends"]["remote"] = {"kind": "openai"}
    with pytest.raises(ConfigError, match="backends.remote.url"):
        C.validate(cfg)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("platform: cpu\nmodes:\n  default: {\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:4:1: not valid YAML"):
        C.load(p)


def test_cell_settings_hash_changes_only_with_that_cells_settings(default_config):
    cfg = C.validate(default_config)
    cell = C.cells(cfg)[0]
    h = C.cell_settings_hash(cfg, cell)
    other = copy.deepcopy(cfg)
    other["figures"] = {"synthetic_label": "x"}
    assert C.cell_settings_hash(other, cell) == h
    other["sweep"]["requests"] = 6
    assert C.cell_settings_hash(other, cell) != h
