# Figures and tables from results/summary.parquet and results/requests.parquet.
# `snakemake --report results/report.html` wraps them (captions under report/).


report: "../report/workflow.rst"


rule plot:
    input:
        summary="results/summary.parquet",
        requests="results/requests.parquet",
    output:
        report(
            directory(JP.FIGURES),
            patterns=["{name}.png", "{name}.csv", "{name}.html"],
            caption="../report/figures.rst",
            category="Figures and tables",
            labels={"file": "{name}"},
        ),
    log:
        "results/logs/plot.log",
    conda:
        "../envs/plot.yaml"
    script:
        "../scripts/plot_figures.py"


rule figures:
    input:
        rules.plot.output,
