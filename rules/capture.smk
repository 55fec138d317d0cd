# Capture one cell on the device. Never two at once (resource `device`, set to 1 in the profile).
# No input and no params: editing code or analysis settings never re-measures a captured cell.


rule capture:
    output:
        cell=f"{RAW}/{CELL}/cell.json",
    log:
        "results/logs/capture/" + CELL + ".log",
    params:
        # provenance only; the profile's rerun-triggers ignore params
        configfile=(workflow.configfiles or ["config.yaml"])[-1],
    resources:
        device=1,
    conda:
        "../envs/capture.yaml"
    script:
        "../scripts/capture_cell.py"
