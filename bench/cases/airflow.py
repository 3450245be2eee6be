"""The shipped shop stack's spec (dlt shop step + dbt) run by AirflowOrchestrator (dag.test,
dbt through Cosmos, one task per model) vs the same steps called directly, each repeat in a
fresh warehouse; and the parse time of its DAG file, measured by Airflow's own DagBag in a
fresh process, after write_dag_file(prepare=True) left the dbt manifest in place."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

from harness import Bench, T, Unavailable, big_shop, direct_stack_run, log, timed

#: the goal keys this case fills (reported as unavailable when it cannot run)
KEYS: tuple[str, ...] = ("airflow_stack_vs_direct",)
#: part of a --quick run
QUICK = False


PARSE_DAG_FILE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
assert not bag.import_errors, bag.import_errors
print(json.dumps([s.duration.total_seconds() for s in bag.dagbag_stats]))
"""


def run(b: Bench) -> None:
    try:
        from stacks_dagster_dlt_dbt import NAME, build_stack
        from stacks_orch_airflow import AirflowOrchestrator, write_dag_file
    except ImportError as exc:
        raise Unavailable(f"stacks_orch_airflow or the shop stack is missing ({exc})") from None
    from stacks_contract.models import RunRequest, RunStatus

    stack = build_stack()
    orch = AirflowOrchestrator(retries=0)

    def via_airflow(wh: Any) -> T:
        with stack.session(wh):
            spec = stack.spec(wh)
            s, record = timed(lambda: orch.run(spec, RunRequest(stack=stack.name), wh))
        if record.status != RunStatus.SUCCEEDED:
            raise RuntimeError(f"stack run under Airflow failed: {record.error}")
        return s

    cold_a = via_airflow(b.duck("airflow"))
    direct_stack_run(stack, b.duck("direct"))
    b.record("t_airflow_stack_first_s", round(cold_a, 3))
    # the demo shop at its default size (200 orders), then at --shop-orders (the goal's key):
    # Airflow's per-task cost is fixed (~0.3 s a task, 15 tasks), so the first shows the floor
    for suffix, shop in (("_demo", contextlib.nullcontext()), ("", big_shop(b))):
        with shop:
            airs, xs = [], []
            for _ in range(b.repeat_heavy):
                airs.append(via_airflow(b.duck("airflow")))
                xs.append(direct_stack_run(stack, b.duck("direct")))
                log(f"  stack{suffix}: airflow {airs[-1]:.2f}s  direct {xs[-1]:.2f}s")
        b.samples(f"t_airflow_stack{suffix}_s", airs)
        b.samples(f"t_direct_stack_airflow{suffix}_s", xs)
        b.ratio(f"airflow_stack_vs_direct{suffix}", airs, xs)

    dags = b.tmp / "airflow-dags"
    env = {**os.environ, "STACKS_WAREHOUSE": f"duckdb:///{b.tmp / 'parse.duckdb'}"}
    os.environ["STACKS_WAREHOUSE"] = env["STACKS_WAREHOUSE"]
    try:
        s, _ = timed(lambda: write_dag_file(NAME, dags, prepare=True))  # dbt parses here
    finally:
        os.environ.pop("STACKS_WAREHOUSE", None)
    b.record("t_airflow_dag_file_prepare_s", round(s, 3))
    parses = []
    for _ in range(b.repeat):
        out = subprocess.run(
            [sys.executable, "-c", PARSE_DAG_FILE, str(dags)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        parses.append(sum(json.loads(out.stdout.strip().splitlines()[-1])))
    b.samples("airflow_dag_parse_s", parses)
