# Figures and tables from results/summary.parquet and results/requests.parquet.


rule plot:
    input:
        summary="results/summary.parquet",
        requests="results/requests.parquet",
    output:
        directory("results/figures"),
    log:
        "results/logs/plot.log",
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/plot_figures.py"


rule figures:
    input:
        rules.plot.output,
