# Telemetry samples + request windows -> energy per prefill / decode / idle window.


rule split_cell:
    input:
        cell=f"{RAW}/{CELL}/cell.json",
        requests=f"{CELLDIR}/{CELL}/requests.parquet",
    output:
        requests=f"{CELLDIR}/{CELL}/requests_energy.parquet",
        energy=f"{CELLDIR}/{CELL}/energy.parquet",
    log:
        JP.log_file("split", CELL),
    benchmark:
        JP.benchmark_file("split_cell", CELL)
    params:
        max_rel_ci=config["energy"]["max_rel_ci"],
    run:
        in_log(
            log[0],
            split_cell_files,
            input.cell,
            input.requests,
            output.requests,
            output.energy,
            max_rel_ci=params.max_rel_ci,
        )
