# One pair's trial rows -> one row per cell (summary, trials pooled with 95 % intervals), one row
# per trial and one per request; the overall tables are the config's pair tables put together
# (metrics/combine.py: one definition of "the summary").


rule aggregate_pair:
    input:
        trials=JP.PAIR_TRIAL_ROWS,
        requests=JP.PAIR_REQUEST_ROWS,
    output:
        directory(JP.PAIR_DIR),
    log:
        JP.log_file("aggregate", "{device}{mode}_{backend}"),
    benchmark:
        JP.benchmark_file("aggregate_pair", "{device}{mode}_{backend}")
    run:
        aggregate_pair_into(log[0], input, output[0])


rule aggregate_all:
    input:
        pairs=lambda wc: summary_pairs(),
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
            combine_pairs,
            input.pairs,
            dict(output.items()),
            built_for_this(),
        )
