# Per-trial Parquet -> one row per cell (summary, trials pooled with 95 % intervals), one row per
# trial and one per request, per pair and overall (metrics/aggregate.py).


rule aggregate_pair:
    input:
        unpack(lambda wc: cell_inputs(cells_for(wc.mode, wc.backend))),
    output:
        directory(JP.PAIR_DIR),
    log:
        JP.log_file("aggregate", "{mode}_{backend}"),
    benchmark:
        JP.benchmark_file("aggregate_pair", "{mode}_{backend}")
    run:
        in_log(
            log[0],
            aggregate_to,
            input.cells,
            input.energy,
            input.requests,
            f"{output[0]}/summary.parquet",
            f"{output[0]}/requests.parquet",
            f"{output[0]}/trials.parquet",
            max_rel_ci=config["energy"]["max_rel_ci"],
            csv=True,
        )


rule aggregate_all:
    input:
        unpack(lambda wc: cell_inputs(cells_for(existing_only=only_captured()))),
    output:
        summary=JP.SUMMARY,
        requests=JP.REQUESTS,
        trials=JP.TRIALS,
    log:
        JP.log_file("aggregate", "all"),
    benchmark:
        JP.benchmark_file("aggregate_all", "all")
    run:
        in_log(
            log[0],
            aggregate_to,
            input.cells,
            input.energy,
            input.requests,
            output.summary,
            output.requests,
            output.trials,
            max_rel_ci=config["energy"]["max_rel_ci"],
            csv=True,
        )
