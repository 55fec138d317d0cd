# Figures and tables from results/summary.parquet and results/requests.parquet.
# `snakemake --report results/report.html` wraps them (captions under report/).


report: "../report/workflow.rst"


rule plot:
    input:
        summary=JP.SUMMARY,
        requests=JP.REQUESTS,
    output:
        report(
            directory(JP.FIGURES),
            patterns=["{name}.png", "{name}.csv", "{name}.html"],
            caption="../report/figures.rst",
            category="Figures and tables",
            labels={"file": "{name}"},
        ),
    log:
        f"{JP.LOGS}/plot.log",
    benchmark:
        JP.benchmark_file("plot", "all")
    conda:
        "../envs/plot.yaml"
    # the charts are spread over this many processes (--cores: 1 in the profile, so one)
    threads: workflow.cores
    script:
        "../scripts/plot_figures.py"


rule figures:
    input:
        rules.plot.output,
