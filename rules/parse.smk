# Raw aiperf exports -> per-request and per-cell Parquet.
# Analysis rules use `run:` (a one-line call into the package, in Snakemake's own process): a
# seed-scale sweep has ~1500 analysis jobs, and a fresh interpreter per job (script:) costs ~1 s
# each on 2 cores, against a target of 60 s for the whole analysis (benchmarks/RESULTS.md).


rule parse_cell:
    input:
        cell=f"{RAW}/{CELL}/cell.json",
    output:
        requests=f"{CELLDIR}/{CELL}/requests.parquet",
        cell=f"{CELLDIR}/{CELL}/cell.parquet",
    log:
        JP.log_file("parse", CELL),
    benchmark:
        JP.benchmark_file("parse_cell", CELL)
    run:
        in_log(log[0], parse_cell, input.cell, output.requests, output.cell)
