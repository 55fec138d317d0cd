# Capture one cell on the device. Never two at once (resource `device`, set to 1 in the profile;
# on a fleet one resource per device, common.smk).
# No input and no params: editing code or analysis settings never re-measures a captured cell.


rule capture:
    output:
        cell=f"{RAW}/{CELL}/cell.json",
    log:
        JP.log_file("capture", CELL),
    benchmark:
        JP.benchmark_file("capture", CELL)
    # Modes, then backends, then models run as blocks (config order): fewer mode switches and
    # server restarts. Safety never depends on it: the mode is verified before every cell.
    priority: capture_priority
    conda:
        "../envs/capture.yaml"
    resources:
        **DEVICE_RESOURCES,
        device=device_wide,
    params:
        # provenance only; the profile's rerun-triggers ignore params
        configfile=CONFIG_FILE,
    script:
        "../scripts/capture_cell.py"
