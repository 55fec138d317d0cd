# Raw captures -> per-request windows and energy (prefill / decode / idle), one row per trial.
# One job per (device, mode, backend) pair, not per cell: at seed scale (768 cells) per-cell jobs
# cost more in scheduling than the analysis (benchmarks/RESULTS.md). Each cell's result is kept
# beside a key of its raw files and the analysis code, so a rerun re-analyses changed cells only
# (joulebench/analysis/). `run:` keeps the job in Snakemake's process; the cells go to one pool of
# worker processes (as many as --cores) that every pair job of the run shares. One thread each:
# Snakemake re-reads the inputs of every job left waiting at each scheduling round, and a waiting
# pair job has ~100 inputs at seed scale.


rule parse_split_pair:
    input:
        cells=lambda wc: raw_cells(cells_of_pair_job(wc)),
    output:
        trials=JP.PAIR_TRIAL_ROWS,
        requests=JP.PAIR_REQUEST_ROWS,
    log:
        JP.log_file("parse_split", "{device}{mode}_{backend}"),
    benchmark:
        JP.benchmark_file("parse_split_pair", "{device}{mode}_{backend}")
    params:
        max_rel_ci=config["energy"]["max_rel_ci"],
    run:
        parse_split_into(
            log[0], input.cells, output, params.max_rel_ci, ANALYSIS_WORKERS
        )
