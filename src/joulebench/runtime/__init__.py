"""Run state: where a run keeps its bookkeeping, who owns the processes it leaves running between
jobs, the device lock that keeps captures from overlapping, and start-up housekeeping.

    rundir       the paths under results/.run/ (servers, clients, pending, platform state)
    processes    is a pid alive, its command line and start time, TERM-then-KILL of a group
    owner        which snakemake run owns a process, and whether that run is still going
    devicelock   one capture at a time per machine, across processes and checkouts
    clients      running aiperf under supervision, and stopping one a killed capture left
    housekeeping what a run does once at start and at its end (the only module that reaches up
                 into backends/, because stopping servers is part of cleaning up)
"""
