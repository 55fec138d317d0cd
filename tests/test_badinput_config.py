"""Bad configurations (beyond tests/test_config.py): every one is refused before anything touches the
device, with an error naming the key and, where there is a closed set, the allowed values."""
import copy

import pytest

import reliability_harness as H
from joulebench import config as C
from joulebench.errors import ConfigError

M = "gemma3-270m"


def _set(path, value):
    def mutate(c):
        node = c
        *parents, last = path
        for p in parents:
            node = node[p]
        node[last] = value
    return mutate


def _del(path):
    def mutate(c):
        node = c
        *parents, last = path
        for p in parents:
            node = node[p]
        del node[last]
    return mutate


# (id, mutation, substrings the message must contain)
CASES = [
    # unknown keys, at every level
    ("unknown key in sweep", _set(["sweep", "request"], 5), ["sweep", "request", "allowed keys:", "requests"]),
    ("unknown key in backend", _set(["backends", "llamacpp", "prot"], 1), ["backends.llamacpp", "prot", "allowed keys:", "port"]),
    ("unknown key in model", _set(["models", M, "quantization"], "Q4"), [f"models.{M}", "quantization", "allowed keys:", "quant"]),
    ("unknown key in pinning", _set(["pinning", "server_core"], "1"), ["pinning", "server_core", "allowed keys:", "server_cores"]),
    ("unknown key in telemetry", _set(["telemetry", "sauce"], "auto"), ["telemetry", "sauce", "allowed keys:", "source"]),
    ("unknown key in aiperf", lambda c: c.update(aiperf={"binray": "x"}), ["aiperf", "binray", "allowed keys:", "binary"]),
    # wrong types / ranges
    ("requests as string", _set(["sweep", "requests"], "5"), ["sweep.requests", '"type": "integer"', '"auto"']),
    ("requests zero", _set(["sweep", "requests"], 0), ["sweep.requests", "minimum"]),
    ("requests negative", _set(["sweep", "requests"], -3), ["sweep.requests"]),
    ("requests float", _set(["sweep", "requests"], 2.5), ["sweep.requests"]),
    ("warmup negative", _set(["sweep", "warmup_requests"], -1), ["sweep.warmup_requests"]),
    ("prompt_tokens not a list", _set(["sweep", "prompt_tokens"], 128), ["sweep.prompt_tokens", "not of type 'array'"]),
    ("prompt_tokens with a string", _set(["sweep", "prompt_tokens"], [128, "512"]), ["sweep.prompt_tokens.1"]),
    ("prompt_tokens zero", _set(["sweep", "prompt_tokens"], [0]), ["sweep.prompt_tokens.0"]),
    ("prompt_tokens duplicate", _set(["sweep", "prompt_tokens"], [128, 128]), ["sweep.prompt_tokens", "non-unique"]),
    ("gen_tokens duplicate", _set(["sweep", "gen_tokens"], [8, 8]), ["sweep.gen_tokens", "non-unique"]),
    ("port as string", _set(["backends", "llamacpp", "port"], "http"), ["backends.llamacpp.port"]),
    ("port zero", _set(["backends", "llamacpp", "port"], 0), ["backends.llamacpp.port"]),
    ("ctx_size tiny", _set(["backends", "llamacpp", "ctx_size"], 16), ["backends.llamacpp.ctx_size"]),
    ("extra_args not a list", _set(["backends", "llamacpp", "extra_args"], "--foo bar"), ["backends.llamacpp.extra_args"]),
    ("extra_args with a space-joined pair", _set(["backends", "llamacpp", "extra_args"], [" --foo"]), ["backends.llamacpp.extra_args[0]"]),
    ("pinning cores garbage", _set(["pinning", "server_cores"], "1; rm -rf /"), ["pinning.server_cores"]),
    ("pinning enabled as string", _set(["pinning", "enabled"], "yes"), ["pinning.enabled"]),
    ("telemetry interval string", _set(["telemetry", "interval_ms"], "fast"), ["telemetry.interval_ms"]),
    ("request timeout negative", _set(["sweep", "request_timeout_s"], -5), ["sweep.request_timeout_s"]),
    ("top level not a mapping entry", _set(["sweep"], [1, 2]), ["sweep", "not of type 'object'"]),
    # unknown references / closed sets
    ("unknown backend kind", _set(["backends", "llamacpp", "kind"], "vllm"), ["backends.llamacpp.kind", "allowed values:", "llamacpp"]),
    ("unknown platform", _set(["platform"], "raspberry"), ["platform", "allowed values:", "cpu"]),
    ("unknown telemetry source", _set(["telemetry", "source"], "multimeter"), ["telemetry.source", "allowed values:"]),
    ("unknown cooldown method", _set(["cooldown", "method"], "ice"), ["cooldown.method", "allowed values:"]),
    ("unknown model source", _set(["models", M, "source"], {"ftp": "x"}), [f"models.{M}.source"]),
    ("model without quant", _del(["models", M, "quant"]), [f"models.{M}", "'quant' is a required property"]),
    ("backend without kind", _del(["backends", "llamacpp", "kind"]), ["backends.llamacpp", "'kind' is a required property"]),
    ("canonical ctx not in sweep", _set(["sweep", "canonical_ctx"], 999), ["sweep.canonical_ctx", "999", "[128, 512]"]),
    ("canonical gen not in sweep", _set(["sweep", "canonical_gen"], 7), ["sweep.canonical_gen", "[32, 64]"]),
    ("openai backend without url", _set(["backends", "remote"], {"kind": "openai"}), ["backends.remote.url"]),
    # empty sweeps
    ("no modes", _set(["modes"], {}), ["modes"]),
    ("no backends", _set(["backends"], {}), ["backends"]),
    ("no models", _set(["models"], {}), ["models"]),
    ("no prompt lengths", _set(["sweep", "prompt_tokens"], []), ["sweep.prompt_tokens"]),
    ("no generation lengths", _set(["sweep", "gen_tokens"], []), ["sweep.gen_tokens"]),
    ("no sweep at all", _del(["sweep"]), ["'sweep' is a required property"]),
    # names that would escape the results tree or a command line
    ("model name with a slash", lambda c: c["models"].update({"../evil": c["models"][M]}), ["models", "../evil"]),
    ("model name with spaces and ;", lambda c: c["models"].update({"a b;c": c["models"][M]}), ["models", "a b;c"]),
    ("mode name with a quote", _set(["modes", "it's"], {}), ["modes", "it's"]),
    ("backend name empty", lambda c: c["backends"].update({"": {"kind": "llamacpp"}}), ["backends"]),
    # duplicate names
    ("mode and model share a name", _set(["modes", M], {}), ["used twice", M]),
    ("backend and mode differ only in case", _set(["modes", "LLAMACPP"], {}), ["used twice", "LLAMACPP"]),
    # cross-field (joulebench.config_checks): caught before the capture, not after it
    ("mode named like a result file", lambda c: c.update(modes={"summary.csv": c["modes"]["default"]}),
     ["config key 'modes': 'summary.csv' should not be valid"]),
    ("mode named like the report", lambda c: c.update(modes={"report.html": c["modes"]["default"]}),
     ["config key 'modes': 'report.html' should not be valid"]),
    ("prompt + generation exceed the server context", _set(["backends", "llamacpp", "ctx_size"], 512),
     ["config key 'backends.llamacpp.ctx_size': 512 tokens cannot hold the largest cell",
      "prompt_tokens 512 + sweep.gen_tokens 64 = 576"]),
    ("server context shrunk in extra_args", _set(["backends", "llamacpp", "extra_args"], ["--ctx-size=300"]),
     ["backends.llamacpp.ctx_size': 300 tokens cannot hold"]),
    ("two llama-servers on one port", lambda c: c["backends"].update(second=dict(c["backends"]["llamacpp"])),
     ["'backends.llamacpp.port' and 'backends.second.port'", "own port"]),
]


def test_cross_field_checks_pass_the_shipped_configs():
    """Every config the project ships passes (the checks refuse only what would fail)."""
    for path in sorted([H.REPO / "config.yaml", *(H.REPO / "config").glob("*.yaml")]):
        C.load(path)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_refused_naming_the_key(case):
    _, mutate, needles = case
    cfg = copy.deepcopy(H.config_default())
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        C.validate(cfg, source="bad.yaml")
    msg = str(err.value)
    assert msg.startswith("bad.yaml"), msg
    for n in needles:
        assert n in msg, f"{n!r} not in: {msg}"


def test_not_a_mapping_and_missing_file(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        C.load(p)
    with pytest.raises(ConfigError, match="config file not found"):
        C.load(tmp_path / "absent.yaml")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("")
    with pytest.raises(ConfigError, match="empty.yaml"):
        C.load(p)


@pytest.mark.integration
def test_snakemake_refuses_a_bad_config_before_touching_the_device(tmp_path):
    """Through the CLI: non-zero exit, the key named, no server started, nothing captured."""
    wd = H.make_workdir(tmp_path, ctx=(64,), gen=(8,), requests=1, warmup=0)
    import yaml

    cfg = H.config(wd)
    cfg["sweep"]["requests"] = "two"
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = H.run(wd, "--cores", "1", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "requests" in out and "'two'" in out, out[-3000:]
    assert not (wd / "results" / "raw").exists() and not H.servers_alive(wd)


@pytest.mark.integration
def test_target_naming_an_unknown_mode_is_refused(tmp_path):
    wd = H.make_workdir(tmp_path, ctx=(64,), gen=(8,), requests=1, warmup=0)
    proc = H.run(wd, "--cores", "1", "results/raw/turbo/llamacpp/gemma3-270m/ctx64_gen8/cell.json", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "turbo" in out, out[-3000:]
    assert not (wd / "results" / "raw").exists() and not H.servers_alive(wd)


def test_schema_error_through_snakemake_names_file_and_key(tmp_path):
    """The workflow validates with the project's validator: the file and the key in one line each,
    not Snakemake's JSON-Schema dump."""
    wd = H.make_workdir(tmp_path, sweep__requests="five")
    proc = H.run(wd, "-n", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"{wd / 'config.yaml'}: invalid configuration:" in out, out[-2000:]
    assert "config key 'sweep.requests': 'five' is not valid" in out
    assert '{"const": "auto"}' in out  # what is allowed, in one line
    assert "Failed validating" not in out and "On instance" not in out


def test_cross_field_error_through_snakemake(tmp_path):
    wd = H.make_workdir(tmp_path, backends__llamacpp__ctx_size=256, ctx=(256,), gen=(8,))
    proc = H.run(wd, "-n", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config key 'backends.llamacpp.ctx_size': 256 tokens cannot hold the largest cell" in out, out[-2000:]
