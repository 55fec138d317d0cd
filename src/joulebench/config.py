"""Load and validate the sweep configuration; enumerate its cells.

The same JSON schema is used by `rules/common.smk` (through snakemake.utils.validate)
and by this module, so a bad key fails identically inside and outside Snakemake.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import ClassVar

import yaml

from .config_checks import check_cross_fields
from .errors import ConfigError

SCHEMA_PATH = Path(str(resources.files("joulebench") / "data" / "config.schema.yaml"))


@dataclass(frozen=True, order=True)
class Cell:
    """One capture target: a (mode, backend, model, ctx, gen, concurrency) point of the sweep and
    its trial.

    Trials are repeated captures of the same point (`sweep.trials`); the summary pools them.
    `concurrency` is how many requests are kept in flight (`sweep.concurrency`); keyword-only, so
    the positional form `Cell(mode, backend, model, ctx, gen, trial)` keeps its meaning.
    The path form lives in paths.py (`cell_suffix`, `CELL_PATTERN`), the row form here.
    """

    mode: str
    backend: str
    model: str
    ctx: int
    gen: int
    concurrency: int = field(default=1, kw_only=True)
    trial: int = 1
    # the board it is captured on: None without a `devices:` section (then no column, no path part)
    device: str | None = field(default=None, kw_only=True)

    # columns naming the sweep point (one summary row) and one capture (one per-trial row)
    KEY: ClassVar[tuple[str, ...]] = ("mode", "backend", "model", "ctx", "gen", "concurrency")
    ROW: ClassVar[tuple[str, ...]] = KEY + ("trial",)
    # the outermost identity column, only where devices are configured ("device" is the provenance
    # column of the hardware's own name, on every row)
    DEVICE: ClassVar[str] = "fleet_device"

    @classmethod
    def columns(cls, present, base: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """The identity columns of a table with these columns: `base` (KEY) led by the device
        column where the table has one (a fleet sweep), else exactly `base`."""
        base = cls.KEY if base is None else base
        return (cls.DEVICE, *base) if cls.DEVICE in present else tuple(base)

    @property
    def key(self) -> tuple:
        """The sweep point without the trial: what the summary row pools (values of KEY)."""
        return tuple(getattr(self, k) for k in self.KEY)

    @property
    def block(self) -> tuple:
        """The cells one block capture measures together (one server, one aiperf run). The server
        differs per concurrency (--parallel N, N slots of context), so concurrency is in it."""
        block = (self.mode, self.backend, self.model, self.concurrency, self.trial)
        return block if self.device is None else (self.device, *block)

    def row(self) -> dict:
        """Identity columns of a per-trial row (and the `cell` object of cell.json)."""
        row = {k: getattr(self, k) for k in self.ROW}
        return row if self.device is None else {self.DEVICE: self.device, **row}

    @classmethod
    def from_row(cls, row) -> "Cell":
        """From a row or cell.json's `cell` object; captures from before trials (or concurrency)
        existed are trial 1 (concurrency 1)."""
        trial, conc, device = row.get("trial"), row.get("concurrency"), row.get(cls.DEVICE)
        return cls(str(row["mode"]), str(row["backend"]), str(row["model"]), int(row["ctx"]),
                   int(row["gen"]), 1 if trial is None else int(trial),
                   concurrency=1 if conc is None else int(conc),
                   device=device if isinstance(device, str) and device else None)

    @classmethod
    def from_wildcards(cls, wc) -> "Cell":
        from .paths import concurrency_from_tag, device_from_tag, trial_from_tag

        return cls(wc.mode, wc.backend, wc.model, int(wc.ctx), int(wc.gen), trial_from_tag(wc.trial),
                   concurrency=concurrency_from_tag(wc.concurrency),
                   device=device_from_tag(getattr(wc, "device", "")))


def config_base(config_file: str | os.PathLike) -> Path:
    """The one folder every relative path in a config is read from (a model's source.path, its
    chat_template and tokenizer): the config file's own folder, wherever snakemake runs."""
    return Path(config_file).expanduser().resolve().parent


def config_relative(value: str | os.PathLike, base: str | os.PathLike) -> Path:
    """A path from the config: `~` expanded, relative ones read from `base` (config_base)."""
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else Path(base) / path


def load_schema() -> dict:
    """The config schema (a fresh copy: callers may build on it)."""
    return copy.deepcopy(_parsed_schema())


@functools.lru_cache(maxsize=1)
def _parsed_schema() -> dict:
    # parsed once per process, with libyaml where PyYAML has it: the pure-Python parser took
    # ~0.25 s per load, and every snakemake call loads the schema more than once
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def _path_of(error) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def _describe(error) -> str:
    """One line naming the key and, where the schema has them, the allowed values."""
    key = _path_of(error)
    msg = error.message
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        if allowed:
            msg += f"; allowed keys: {', '.join(allowed)}"
    elif error.validator == "enum":
        msg += f"; allowed values: {', '.join(map(str, error.validator_value))}"
    elif error.validator == "oneOf":
        msg += "; allowed: " + " or ".join(json.dumps(s, sort_keys=True) for s in error.validator_value)
    return f"config key '{key}': {msg}"


def validate(cfg: dict, source: str = "config") -> dict:
    """Validate against the schema, fill defaults, check cross-references. Returns a new dict."""
    import jsonschema

    cfg = copy.deepcopy(cfg)
    schema = load_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = _with_defaults(validator_cls)(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors[:10])
        raise ConfigError(f"{source}: invalid configuration:\n  {lines}")
    check_semantics(cfg, source)
    return cfg


def backend_settings(bcfg: dict) -> dict:
    """One backend's settings with the schema's defaults for its kind filled in, as a loaded
    config holds them (a backend made outside a config gets the same ones). Returns a new dict."""
    import jsonschema

    schema = load_schema()
    sub = {"$defs": schema["$defs"], **schema["$defs"]["backend"]}
    bcfg = copy.deepcopy(bcfg)
    validator = _with_defaults(jsonschema.validators.validator_for(schema))(sub)
    errors = sorted(validator.iter_errors(bcfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("invalid backend settings:\n  " + "\n  ".join(_describe(e) for e in errors[:10]))
    return bcfg


def _with_defaults(validator_cls):
    """A validator that also writes schema defaults into the instance (as Snakemake's does)."""
    import jsonschema

    validate_props = validator_cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if isinstance(sub, dict) and "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": set_defaults})


def _cpu_set(spec: str) -> set[int]:
    cores: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cores.update(range(int(lo), int(hi or lo) + 1))
    return cores


def check_semantics(cfg: dict, source: str = "config") -> None:
    """What a JSON schema cannot say: cross-references and consistent settings."""
    sweep = cfg["sweep"]
    for key in ("canonical_ctx", "canonical_gen"):
        axis = "prompt_tokens" if key == "canonical_ctx" else "gen_tokens"
        if key in sweep and sweep[key] not in sweep[axis]:
            raise ConfigError(
                f"{source}: config key 'sweep.{key}': {sweep[key]} is not one of sweep.{axis} {sweep[axis]}"
            )
    pin = cfg["pinning"]
    if pin["enabled"] and pin.get("server_cores") and pin.get("client_cores"):
        overlap = _cpu_set(pin["server_cores"]) & _cpu_set(pin["client_cores"])
        if overlap:
            raise ConfigError(
                f"{source}: config keys 'pinning.server_cores' and 'pinning.client_cores' overlap on "
                f"cores {sorted(overlap)}: the load generator would steal the server's cores"
            )
    for name, backend in cfg["backends"].items():
        if backend["kind"] == "openai" and "url" not in backend:
            raise ConfigError(f"{source}: config key 'backends.{name}.url' is required for kind 'openai'")
        for i, arg in enumerate(backend["extra_args"]):
            if arg.strip() != arg or "\n" in arg:
                raise ConfigError(
                    f"{source}: config key 'backends.{name}.extra_args[{i}]': one argument per item, "
                    f"no surrounding whitespace (got {arg!r})"
                )
    names = [*cfg["modes"], *cfg["backends"], *cfg["models"], *(cfg.get("devices") or {})]
    lowered = [n.lower() for n in names]
    dupes = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if dupes:
        raise ConfigError(
            f"{source}: names {dupes} are used twice (modes, backends and models share the results tree, "
            "and names differing only in case collide on some filesystems)"
        )
    check_cross_fields(cfg, source)
    check_devices(cfg, source)


def check_devices(cfg: dict, source: str = "config") -> None:
    """Each device's own config (device_config) must be a valid config: its modes and backends
    exist, its overrides are valid settings, its pinning does not overlap."""
    import jsonschema

    devs = cfg.get("devices") or {}
    resources = [device_resource(n) for n in devs]
    clash = sorted({n for n, r in zip(devs, resources) if resources.count(r) > 1})
    if clash:
        raise ConfigError(f"{source}: device names {clash} give the same Snakemake resource name")
    schema = load_schema()
    for name, dev in devs.items():
        where = f"{source}: config key 'devices.{name}"
        for axis in ("modes", "backends"):
            unknown = [v for v in dev.get(axis, ()) if v not in cfg[axis]]
            if unknown:
                raise ConfigError(f"{where}.{axis}': {unknown} not in the config's {axis} {list(cfg[axis])}")
        own = {k: v for k, v in device_config(cfg, name).items() if k != "devices"}
        if not own["modes"] or not own["backends"]:
            raise ConfigError(f"{where}': no modes or no backends left to run")
        errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(own),
                        key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            raise ConfigError(f"{where}' gives an invalid configuration:\n  "
                              + "\n  ".join(_describe(e) for e in errors[:10]))
        check_semantics(own, f"{source} (device {name})")


def yaml_error(path, exc: yaml.YAMLError) -> str:
    """`file:line:col: what` (1-based, as editors count), then the context YAML gives."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark:
        what += f" ({context} at line {context_mark.line + 1}, column {context_mark.column + 1})"
    tabs = "; YAML cannot indent with tabs: use spaces" if r"'\t'" in what else ""
    return f"{where}: not valid YAML: {what}{tabs}"


def read_yaml(path: str | os.PathLike) -> dict:
    """A config file's mapping, or a ConfigError naming the file, line and column."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error(path, exc)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    return raw


def load(path: str | os.PathLike) -> dict:
    return validate(read_yaml(path), source=str(path))


def trials(cfg: dict) -> int:
    return int(cfg["sweep"].get("trials", 1))  # figures may get a partial, unvalidated config


def concurrencies(cfg: dict) -> list[int]:
    return [int(n) for n in cfg["sweep"]["concurrency"]]


def devices(cfg: dict) -> list[str | None]:
    """The boards of the sweep in config order; [None] without a `devices:` section (one machine,
    today's paths)."""
    return list(cfg.get("devices") or {}) or [None]


# top-level keys a device may override (merged over the top level: one board's platform, pinning,
# backend ports); `modes` and `backends` also narrow what the board runs
DEVICE_OVERRIDES = ("platform", "pinning")


def device_config(cfg: dict, name: str | None) -> dict:
    """The config one device captures with: the top level with the device's own settings merged
    over it, only its modes and backends, and `devices` holding only it. Idempotent, so a config
    it returned can be given again. None (no devices) returns cfg itself."""
    if name is None:
        return cfg
    try:
        dev = cfg["devices"][name]
    except (KeyError, TypeError):
        raise ConfigError(f"config key 'devices.{name}': no such device") from None
    out = copy.deepcopy(cfg)
    for key in DEVICE_OVERRIDES:
        if key in dev:
            out[key] = {**out.get(key, {}), **dev[key]} if isinstance(dev[key], dict) else dev[key]
    if "modes" in dev:
        out["modes"] = {m: cfg["modes"][m] for m in dev["modes"] if m in cfg["modes"]}
    if "backends" in dev:
        out["backends"] = {b: {**cfg["backends"][b], **(over or {})}
                           for b, over in dev["backends"].items() if b in cfg["backends"]}
    out["devices"] = {name: dev}
    return out


def device_resource(name: str) -> str:
    """The Snakemake resource that keeps one device's captures from overlapping (capture rule;
    each is 1 in total, so different devices capture in parallel)."""
    return "device_" + re.sub(r"\W", "_", name)


# devices.NAME.slurm keys -> the resource names snakemake-executor-plugin-slurm reads
SLURM_RESOURCES = {"partition": "slurm_partition", "constraint": "constraint"}


def slurm_resources(cfg: dict) -> dict:
    """Capture-rule resources for boards that are SLURM nodes: {resource: wildcards -> value},
    only for the keys some device sets (a device without one gets the executor's default)."""
    from .paths import device_from_tag

    devs = cfg.get("devices") or {}
    out = {}
    for key, resource in SLURM_RESOURCES.items():
        values = {n: d["slurm"][key] for n, d in devs.items() if key in d.get("slurm", {})}
        if values:
            out[resource] = lambda wc, values=values: values.get(device_from_tag(wc.device))
    return out


def cells(cfg: dict) -> list[Cell]:
    """Every cell of the sweep, in capture order: devices, then modes, then backends, then models
    as blocks; inside a model, each concurrency (one server: --parallel N), inside it the trials
    one after the other, the cells of even trials in reverse order (ABBA: a slow drift over the
    block shifts every cell's trial mean alike)."""
    out = []
    for device in devices(cfg):
        dcfg = device_config(cfg, device)
        for mode in dcfg["modes"]:
            for backend in dcfg["backends"]:
                for model in cfg["models"]:
                    points = [(int(ctx), int(gen)) for ctx in cfg["sweep"]["prompt_tokens"]
                              for gen in cfg["sweep"]["gen_tokens"]]
                    for conc in concurrencies(cfg):
                        for trial in range(1, trials(cfg) + 1):
                            order = points if trial % 2 else points[::-1]
                            out.extend(Cell(mode, backend, model, ctx, gen, trial, concurrency=conc,
                                            device=device) for ctx, gen in order)
    return out


def wildcard_values(cfg: dict) -> dict[str, list[str]]:
    """The values each path wildcard may take in this sweep (Snakemake's wildcard_constraints)."""
    from .paths import concurrency_tag, device_tag, trial_tag

    sweep = cfg["sweep"]
    return {
        "device": [device_tag(d) for d in devices(cfg)],
        "mode": list(cfg["modes"]), "backend": list(cfg["backends"]), "model": list(cfg["models"]),
        "ctx": [str(v) for v in sweep["prompt_tokens"]], "gen": [str(v) for v in sweep["gen_tokens"]],
        "concurrency": [concurrency_tag(n) for n in concurrencies(cfg)],
        "trial": [trial_tag(k) for k in range(1, trials(cfg) + 1)],
    }


def canonical_cell(sweep: dict, ctxs, gens) -> tuple[int, int]:
    """The headline (ctx, gen) among the lengths given: sweep.canonical_ctx / canonical_gen where
    they are among them, else the largest ((0, 0) where there are none). The one home of the
    canonical cell: the config's sweep and the figures (with the lengths the data has) ask here."""
    def pick(key: str, values) -> int:
        values = [int(v) for v in values]
        want = sweep.get(key)  # optional: absent means "the largest"
        return int(want) if want is not None and int(want) in values else max(values, default=0)

    return pick("canonical_ctx", ctxs), pick("canonical_gen", gens)


def canonical(cfg: dict) -> tuple[int, int]:
    sweep = cfg["sweep"]
    return canonical_cell(sweep, sweep["prompt_tokens"], sweep["gen_tokens"])


# settings that change only the analysis or how many captures there are, not one capture
ANALYSIS_ONLY = ("figures", "device_profile", "energy")
NOT_PER_CAPTURE = ("prompt_tokens", "gen_tokens", "trials", "concurrency")


def config_hash(cfg: dict) -> str:
    """Hash of the settings that shape a measurement (not figure or analysis options)."""
    relevant = {k: v for k, v in cfg.items() if k not in ANALYSIS_ONLY}
    blob = json.dumps(relevant, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def cell_settings_hash(cfg: dict, cell: Cell) -> str:
    """Hash of exactly what one cell's capture depends on (its device's platform, mode, backend,
    model, sweep knobs)."""
    cfg = device_config(cfg, cell.device)
    sweep = {k: v for k, v in cfg["sweep"].items() if k not in NOT_PER_CAPTURE}
    relevant = {
        "platform": cfg["platform"],
        "mode": cfg["modes"][cell.mode],
        "backend": cfg["backends"][cell.backend],
        "model": cfg["models"][cell.model],
        "sweep": sweep,
        "ctx": cell.ctx,
        "gen": cell.gen,
        "trial": cell.trial,
        # only where it is not 1: cells captured before the axis existed keep their hash
        **({"concurrency": cell.concurrency} if cell.concurrency != 1 else {}),
        "pinning": cfg["pinning"],
        "telemetry": cfg["telemetry"],
    }
    blob = json.dumps(relevant, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
