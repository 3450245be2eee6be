"""The conformance suite's backfill check through Airflow's own backfill, as a user runs one.

An Airflow backfill needs the services: ``POST /backfills`` only creates the runs, and the
scheduler (LocalExecutor) runs their tasks, each in its own process. :class:`SuiteServices`
starts ``api-server``, ``scheduler`` and ``dag-processor`` once (lazily, on the first backfill)
over a Postgres metadata DB. Each backfill writes a DAG file of its own for the suite's stack (its
steps rebuilt in every task process from a JSON file beside it, the warehouse URL without its
password: ``PGPASSWORD`` is in the services' environment) with a cron whose data interval is the
window, then asks the API to backfill that one interval and waits for the run.

The DAG's ``end_date`` is the window's end, so unpausing it (the scheduler queues no task of a
paused DAG, backfill runs included) schedules nothing else: Airflow's backfill ignores start and
end dates, the scheduler's own runs do not.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_prod_services import Deployment, free_port, metadata_url, service_env
from pydantic import SecretStr
from stacks_contract.models import RunRecord, StackSpec, Window
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.ledger import Ledger
from stacks_testing.reference import stack_spec_json

DAG_FILE = '''"""The conformance suite's stack as {dag_id!r} (written by its Airflow harness)."""
import json
from datetime import datetime
from pathlib import Path

from stacks_contract.models import CronTrigger
from stacks_contract.warehouse import parse_warehouse
from stacks_orch_airflow.binding import Bound
from stacks_orch_airflow.dag import build_dag
from stacks_testing.reference import stack_from_json

_given = json.loads(Path(__file__).with_suffix(".json").read_text())
_spec = stack_from_json(_given["stack"]).model_copy(
    update={{"triggers": (CronTrigger(cron=_given["cron"]),)}}
)
dag = build_dag(_spec, Bound(_spec, parse_warehouse(_given["warehouse"])), dag_id={dag_id!r})
dag.end_date = datetime.fromisoformat(_given["end"])
'''


def window_cron(window: Window) -> str:
    """A cron whose data interval ending at ``window.end`` starts at ``window.start``: two ticks
    a day (same day, same minute) or one (a whole day)."""
    start, end = window.start, window.end
    if end - start == timedelta(days=1):
        return f"{start.minute} {start.hour} * * *"
    if start.date() != end.date() or start.minute != end.minute:
        raise ValueError(f"no cron has {window.start}..{window.end} as a data interval")
    return f"{start.minute} {start.hour},{end.hour} * * *"


def _url_without_password(warehouse: Warehouse) -> str:
    if isinstance(warehouse, PostgresWarehouse):
        warehouse = warehouse.model_copy(update={"password": SecretStr("")})
    return warehouse.redacted_url()  # with no password, nothing is redacted


class SuiteServices:
    """Airflow's services for the suite's backfills, started on first use."""

    def __init__(self, root: Path, postgres_server: Any) -> None:
        self.root, self.server = root, postgres_server
        self.deployment: Deployment | None = None

    def started(self) -> Deployment:
        if self.deployment is None:
            meta = metadata_url(self.server.create_database())
            port = free_port()
            password = self.server.admin.password.get_secret_value()
            extra = {
                "PGPASSWORD": password,
                # a new DAG file is found within seconds (default: every 5 minutes)
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            }
            home = self.root / "airflow"
            (home / "dags").mkdir(parents=True)
            self.deployment = Deployment(home, service_env(home, meta, port, extra), port)
            self.deployment.start()
        return self.deployment

    def stop(self) -> None:
        if self.deployment is not None:
            self.deployment.stop()

    def backfill(self, stack: StackSpec, window: Window, warehouse: Warehouse) -> RunRecord:
        """``POST /backfills`` of ``window`` for a new DAG of ``stack`` on ``warehouse``; the
        ledger's record of the run it made."""
        d = self.started()
        dag_id = f"suite_backfill_{uuid.uuid4().hex[:8]}"
        dags = d.home / "dags"
        given = {
            "stack": stack_spec_json(stack),
            "cron": window_cron(window),
            "warehouse": _url_without_password(warehouse),
            "end": window.end.isoformat(),
        }
        (dags / f"{dag_id}.json").write_text(json.dumps(given))
        (dags / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id))
        d.wait_dag(dag_id)
        d.unpause(dag_id)
        body = {
            "dag_id": dag_id,
            "from_date": window.start.isoformat(),
            "to_date": window.start.isoformat(),
            "max_active_runs": 1,
        }
        d.api("POST", "/backfills", json=body)
        run = d.wait_runs(dag_id, 1, timeout=900)[0]
        assert run["run_type"] == "backfill", run
        assert run["state"] == "success", f"the backfill run failed: {run}"
        interval = [run["data_interval_start"], run["data_interval_end"]]
        assert [_utc(t) for t in interval] == [window.start, window.end], interval
        records = Ledger(warehouse).runs(stack.name)
        assert len(records) == 1, f"one backfill run, ledger rows: {records}"
        return records[0]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
