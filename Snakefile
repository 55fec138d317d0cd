# joulebench: tokens/s and tokens/J of small GGUF LLMs, per power mode and backend.
# Thin on purpose: the rules live in rules/, the logic in src/joulebench/.
from snakemake.utils import min_version

min_version("8.0")


# config.yaml (unless --configfile replaces it) is read in rules/common.smk


include: "rules/common.smk"
include: "rules/capture.smk"
include: "rules/split.smk"
include: "rules/aggregate.smk"
include: "rules/plot.smk"


# Under a cluster executor (a fleet, docs/fleet.md) only captures go to the devices; the analysis
# runs where snakemake runs. No effect on a local run.
localrules:
    all,
    parse_split_pair,
    aggregate_pair,
    aggregate_all,
    plot,
    figures,


rule all:
    default_target: True
    input:
        summary=JP.SUMMARY,
        requests=JP.REQUESTS,
        pairs=expand(f"{JP.RESULTS}/{{pair}}", pair=PAIRS),
        figures=JP.FIGURES,


onstart:
    run_starts()


onsuccess:
    stop_servers()


onerror:
    stop_servers()
