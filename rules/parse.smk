# Raw aiperf exports -> per-request and per-cell Parquet.


rule parse_cell:
    input:
        cell=f"{RAW}/{CELL}/cell.json",
    output:
        requests=f"{CELLDIR}/{CELL}/requests.parquet",
        cell=f"{CELLDIR}/{CELL}/cell.parquet",
    log:
        "results/logs/parse/" + CELL + ".log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../scripts/parse_cell.py"
