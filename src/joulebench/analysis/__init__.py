"""Analysis of captured cells, one (device, mode, backend) pair per job.

A seed-scale sweep has 768 cells: one Snakemake job per cell and step cost more in scheduling than
the analysis itself (benchmarks/RESULTS.md). So one job parses and splits every cell of a pair
(pair.py), on a pool of worker processes (workers.py), and keeps each cell's result beside a key
of its raw files and of the analysis code (cache.py): a rerun after one new or re-measured cell
analyses that cell only.
"""
