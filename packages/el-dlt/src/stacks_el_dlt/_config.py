"""Process-wide dlt settings stacks relies on, applied once before any pipeline is built.

dlt reads its configuration from the environment; ``setdefault`` keeps a user's own setting.
"""

from __future__ import annotations

import os

#: the defaults the benchmarks measure (bench/README.md, "Choosing el-dlt's fast path")
DLT_DEFAULTS: dict[str, str] = {
    # no network calls from tests, CI or users' runs
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    # gzip of load files was most of normalize's time (issue 6): the files are local and short-lived
    "NORMALIZE__DATA_WRITER__DISABLE_COMPRESSION": "true",
    # ... and of extract's intermediate files: halved a 100k-row dict load here (23.6 -> 12.6 s)
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
    # merge loads leave the last batch in <dataset>_staging; truncating it keeps the warehouse
    # (and its fingerprint) a function of the source alone
    "LOAD__TRUNCATE_STAGING_DATASET": "true",
    # with Airflow installed beside dlt (a workspace with orch-airflow), dlt's Airflow secrets
    # provider imports Airflow at the first config lookup, which creates $HOME/airflow/airflow.db;
    # stacks hands dlt its credentials in code, so that provider has nothing to give
    "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false",
    # Ctrl-C and SIGTERM are the orchestrator's (and the `stacks` command's) to handle: dlt's own
    # handler in normalize and load only sets a flag it checks now and then, and a signal that
    # came after its last check was lost (a Ctrl-C during the load ended in a succeeded run)
    "RUNTIME__INTERCEPT_SIGNALS": "false",
}


def apply_dlt_defaults() -> None:
    from stacks_el_dlt.logs import route_dlt_logs

    for key, value in DLT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    # dlt's WARNINGs and job tracebacks go to a log file, not to the user's terminal
    route_dlt_logs()
