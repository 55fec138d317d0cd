# Telemetry samples + request windows -> energy per prefill / decode / idle window.


rule split_cell:
    input:
        cell=f"{RAW}/{CELL}/cell.json",
        requests=f"{CELLDIR}/{CELL}/requests.parquet",
    output:
        requests=f"{CELLDIR}/{CELL}/requests_energy.parquet",
        energy=f"{CELLDIR}/{CELL}/energy.parquet",
    log:
        "results/logs/split/" + CELL + ".log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/split_cell.py"
