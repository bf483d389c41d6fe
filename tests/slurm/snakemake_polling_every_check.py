"""``python -m snakemake``, with the SLURM executor plugin polling at a steady interval.

snakemake-executor-plugin-slurm 2.8 waits 10 s longer after each status query that finds no job
finished (up to 180 s), and ``--seconds-between-status-checks`` only applies before its first
query. That suits a busy cluster with jobs of minutes; on the CI cluster, whose jobs take 5-30 s,
a job that ended after 17 s was seen after 39 s, and waiting was most of a run. Here every wait
is ``--seconds-between-status-checks``. Submission, the status queries (squeue) and the jobs
themselves are the plugin's and SLURM's, unchanged.
"""

import sys

from snakemake.cli import main
from snakemake_executor_plugin_slurm import Executor

Executor.next_seconds_between_status_checks = property(
    lambda self: self.workflow.remote_execution_settings.seconds_between_status_checks,
    lambda self, value: None,  # the plugin's back-off: ignored
)

if __name__ == "__main__":
    sys.exit(main())
