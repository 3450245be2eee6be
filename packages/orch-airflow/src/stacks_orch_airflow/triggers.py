"""A stack's event triggers as small Airflow DAGs that start the stack's DAG.

The cron trigger is the stack DAG's own schedule (:mod:`stacks_orch_airflow.dag`). Each
file-arrival and source-change trigger becomes a DAG of its own, named after what it waits for
(``<stack>__new_files``, ``<stack>__<step>_changed``), scheduled
every poll interval (``max_active_runs=1``, no catch-up):

* file arrival: ``wait`` is Airflow's ``FileSensor`` in deferrable mode (its ``FileTrigger`` waits
  in the triggerer, not in a worker slot) until a file matches; ``detect`` then asks the contract's
  :func:`scan_files` which files are *new* against the cursor kept in an Airflow Variable;
* source change: ``detect`` is a ``PythonSensor`` in ``reschedule`` mode polling the step's
  :class:`~stacks_contract.ports.ChangeProbe` through the contract's :func:`probe_source` (Airflow
  has no deferrable trigger for an arbitrary Python probe);
* ``fire`` triggers the stack DAG with the contract's :func:`trigger_request` as the run's conf and
  its deterministic run id as the DAG run id (a re-fire after a crash finds the run and skips);
* ``commit`` stores the new cursor only after the run was requested (at least once, never lost).
"""

from __future__ import annotations

import functools
import hashlib
from datetime import timedelta
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.models import FileArrivalTrigger, RunRequest, SourceChangeTrigger, StackSpec
from stacks_contract.triggers import probe_source, scan_files, trigger_request

from stacks_orch_airflow.binding import Binding
from stacks_orch_airflow.tasks import CONF_KEY

__all__ = [
    "build_trigger_dags",
    "cursor_variable",
    "detect_change",
    "detect_files",
    "fire_change",
    "fire_files",
]

FILE_POLL = timedelta(seconds=60)


def cursor_variable(stack: str, trigger: Any) -> str:
    digest = hashlib.sha1(trigger.model_dump_json().encode()).hexdigest()[:8]
    return f"stacks.{stack}.{trigger.kind}.{digest}"


def _trigger(binding: Binding, index: int) -> Any:
    return binding.spec().triggers[index]


def fire_files(
    spec: StackSpec, trigger: FileArrivalTrigger, cursor: str | None
) -> tuple[RunRequest | None, str | None]:
    """The run new files request (None: no new file) and the cursor to store after it."""
    scan = scan_files(trigger, cursor)
    if not scan.new:
        return None, cursor
    return trigger_request(spec, trigger, scan.cursor or ",".join(scan.new)), scan.cursor


def fire_change(
    spec: StackSpec, trigger: SourceChangeTrigger, cursor: str | None
) -> tuple[RunRequest | None, str | None]:
    """The run a changed source requests (None: unchanged) and the cursor to store after it."""
    probe = probe_source(spec.step(trigger.step), cursor)
    if not probe.changed:
        return None, cursor
    return trigger_request(spec, trigger, probe.version), probe.cursor


def detect_files(binding: Binding, index: int) -> dict[str, Any]:
    """``detect`` of a file-arrival DAG: skips the DAG run when no file is new."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowSkipException

    spec, trigger = binding.spec(), _trigger(binding, index)
    request, cursor = fire_files(
        spec, trigger, Variable.get(cursor_variable(spec.name, trigger), default=None)
    )
    if request is None:
        raise AirflowSkipException("no new files")
    return {"request": request.model_dump(mode="json", by_alias=True), "cursor": cursor}


def detect_change(binding: Binding, index: int) -> Any:
    """``detect`` of a source-change DAG (a PythonSensor): done once the version changed."""
    from airflow.sdk import PokeReturnValue, Variable

    spec, trigger = binding.spec(), _trigger(binding, index)
    request, cursor = fire_change(
        spec, trigger, Variable.get(cursor_variable(spec.name, trigger), default=None)
    )
    if request is None:
        return PokeReturnValue(is_done=False)
    return PokeReturnValue(
        is_done=True,
        xcom_value={"request": request.model_dump(mode="json", by_alias=True), "cursor": cursor},
    )


def _commit(binding: Binding, index: int) -> None:
    from airflow.sdk import Variable, get_current_context

    found = get_current_context()["ti"].xcom_pull(task_ids="detect")
    spec = binding.spec()
    Variable.set(cursor_variable(spec.name, _trigger(binding, index)), found["cursor"])


def build_trigger_dags(spec: StackSpec, binding: Binding, stack_dag_id: str) -> list[Any]:
    """One DAG per file-arrival / source-change trigger of ``spec`` (none for cron)."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.providers.standard.sensors.filesystem import FileSensor
    from airflow.providers.standard.sensors.python import PythonSensor
    from airflow.sdk import DAG

    dags = []
    files_seen = 0
    for index, trigger in enumerate(spec.triggers):
        if isinstance(trigger, FileArrivalTrigger):
            files_seen += 1  # named for what it waits for: <stack>__new_files, _2, ...
            suffix = "" if files_seen == 1 else f"_{files_seen}"
            name, every = f"{stack_dag_id}__new_files{suffix}", FILE_POLL
        elif isinstance(trigger, SourceChangeTrigger):
            step = spec.step(trigger.step)
            if not callable(getattr(step, "source_version", None)):
                raise ConfigError(
                    f"The source-change trigger of stack {spec.name!r} watches EL step "
                    f"{trigger.step!r}, which cannot report a source version (no ChangeProbe)."
                )
            name, every = (
                f"{stack_dag_id}__{trigger.step}_changed",
                timedelta(seconds=trigger.poll_seconds),
            )
        else:
            continue
        dag = DAG(
            dag_id=name,
            schedule=every,
            catchup=False,
            max_active_runs=1,
            render_template_as_native_obj=True,
            tags=["stacks", "stacks-trigger"],
            description=f"stacks: {trigger.kind} trigger of {spec.name}",
            default_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
        )
        with dag:
            if isinstance(trigger, FileArrivalTrigger):
                wait = FileSensor(
                    task_id="wait",
                    filepath=f"{trigger.path.rstrip('/')}/{trigger.pattern}",
                    fs_conn_id="fs_default",
                    deferrable=True,
                    poke_interval=every.total_seconds(),
                    timeout=every.total_seconds() * 10,
                )
                detect: Any = PythonOperator(
                    task_id="detect",
                    python_callable=functools.partial(detect_files, binding, index),
                )
                wait >> detect
            else:
                detect = PythonSensor(
                    task_id="detect",
                    python_callable=functools.partial(detect_change, binding, index),
                    mode="reschedule",
                    poke_interval=every.total_seconds(),
                    timeout=every.total_seconds() * 10,
                    soft_fail=True,
                )
            pulled = "ti.xcom_pull(task_ids='detect')['request']"
            fire = TriggerDagRunOperator(
                task_id="fire",
                trigger_dag_id=stack_dag_id,
                trigger_run_id="{{ " + pulled + "['run_id'] }}",
                conf={CONF_KEY: "{{ " + pulled + " }}"},
                skip_when_already_exists=True,
            )
            commit = PythonOperator(
                task_id="commit",
                python_callable=functools.partial(_commit, binding, index),
                trigger_rule="none_failed_min_one_success",
            )
            detect >> fire >> commit
        dags.append(dag)
    return dags
