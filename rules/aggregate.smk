# Per-trial Parquet -> one row per cell (summary, trials pooled with 95 % intervals), one row per
# trial and one per request, per pair; the overall tables are the config's pair tables put
# together (metrics/combine.py: one definition of "the summary").


rule aggregate_pair:
    input:
        unpack(
            lambda wc: cell_inputs(
                cells_for(wc.mode, wc.backend, existing_only=pair_from_captured(wc))
            )
        ),
    output:
        directory("results/{mode}/{backend}"),
    log:
        "results/logs/aggregate/{mode}_{backend}.log",
    run:
        aggregate_pair_into(log[0], input, output[0])


rule aggregate_all:
    input:
        pairs=lambda wc: summary_pairs(),
    output:
        summary="results/summary.parquet",
        requests="results/requests.parquet",
        trials="results/trials.parquet",
    log:
        "results/logs/aggregate/all.log",
    run:
        in_log(
            log[0],
            combine_pairs,
            input.pairs,
            dict(output.items()),
            built_for_this(),
        )
