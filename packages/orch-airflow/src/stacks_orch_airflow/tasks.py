"""The bodies of a stack DAG's tasks.

The run's state travels through XCom, keyed by the fixed task ids below:

* ``stacks_start`` (a setup task) turns the DAG run into a :class:`RunRequest` (from the run's
  conf when :meth:`AirflowOrchestrator.run` or a trigger DAG started it, else from the DAG run
  itself), resolves the selection, writes the ledger's ``running`` row and returns both;
* each EL task runs its step through the port (or skips when not selected) and returns the
  :class:`LoadResult`; the transform task(s) push their :class:`TransformResult`;
* a failing task pushes its one-sentence error before it raises;
* ``stacks_finish`` (a teardown task: it runs whatever failed, and does not decide the DAG run's
  state) folds all of that into the ledger row with ``RunRecord.from_results``; it fails itself
  (without retries) after recording a failed run, so that clearing the run's failed tasks
  re-runs it too.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NoReturn

from stacks_contract.errors import StacksError, StepFailed
from stacks_contract.models import (
    CronTrigger,
    LoadResult,
    RunRecord,
    RunRequest,
    RunStatus,
    TransformResult,
    TriggerKind,
    Window,
)
from stacks_contract.selection import resolve
from stacks_contract.triggers import cron_token, trigger_request
from stacks_contract.warehouse import Warehouse, redact
from stacks_core.ledger import Ledger

from stacks_orch_airflow.binding import Binding, Bound, reporter_for

__all__ = [
    "CONF_KEY",
    "ERROR_KEY",
    "FINISH",
    "START",
    "TRANSFORM_KEY",
    "error_sentence",
    "final_failure",
    "merge_transform_results",
]

START = "stacks_start"
FINISH = "stacks_finish"
#: XCom key of a failed task's one sentence
ERROR_KEY = "stacks_error"
#: XCom key of a transform task's TransformResult (JSON)
TRANSFORM_KEY = "stacks_transform"
#: XCom key of a failed EL task's LoadResult of the tables that did load (JSON)
PARTIAL_KEY = "stacks_partial"
#: the DAG run conf key carrying a whole RunRequest (JSON)
CONF_KEY = "stacks_request"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:\-]")


class StackTaskFailed(StacksError):
    """What a stacks task raises: the sentence the ledger records."""


def error_sentence(step: str, exc: BaseException, warehouse: Warehouse) -> str:
    if isinstance(exc, StepFailed):
        return redact(str(exc), warehouse)
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if not isinstance(exc, StacksError):
        text = f"{type(exc).__name__}: {text}"
    return redact(f"Step {step!r} failed: {text}", warehouse)


def _context() -> Any:
    from airflow.sdk import get_current_context

    return get_current_context()


def _skip(why: str) -> NoReturn:
    from airflow.sdk.exceptions import AirflowSkipException

    raise AirflowSkipException(why)


def run_type_of(dag_run: Any) -> str:
    """The DAG run's type as its value (``scheduled``, ``manual``, ``backfill``, ...): inside a
    task the task SDK hands its own ``DagRunType``, whose ``str()`` is ``DagRunType.SCHEDULED``,
    while the scheduler's enum prints ``scheduled``; both carry the value."""
    run_type = getattr(dag_run, "run_type", None)
    return str(getattr(run_type, "value", run_type) or "")


def window_of(dag_run: Any) -> Window | None:
    """A DAG run's data interval as the contract's window (None when it is empty)."""
    start = getattr(dag_run, "data_interval_start", None)
    end = getattr(dag_run, "data_interval_end", None)
    if start is None or end is None or end <= start:
        return None
    return Window(start=start, end=end)


def request_for(binding: Binding, dag_run: Any) -> RunRequest:
    """The stacks request of a DAG run: the conf's request if one came with it; a scheduled
    run's is the cron trigger's (its run id derived from the tick, so a re-run is the same run);
    a backfill run's covers its data interval (the window); anything else (UI, CLI, asset
    event) is a manual request named after the Airflow run id, with the conf's ``window``
    (``{"start": ..., "end": ...}``) when it has one."""
    spec = binding.spec()
    conf = dict(getattr(dag_run, "conf", None) or {})
    if CONF_KEY in conf:
        return RunRequest.model_validate(conf[CONF_KEY])
    run_type = run_type_of(dag_run)
    crons = [t for t in spec.triggers if isinstance(t, CronTrigger)]
    if run_type == "scheduled" and crons:
        # the tick is when the run was due: the end of its data interval
        tick: datetime = dag_run.run_after or dag_run.logical_date
        return trigger_request(spec, crons[0], cron_token(tick))
    extra: dict[str, Any] = {}
    if "select" in conf:
        extra["select"] = tuple(conf["select"])
    if "exclude" in conf:
        extra["exclude"] = tuple(conf["exclude"])
    if "window" in conf:
        extra["window"] = Window.model_validate(conf["window"])
    elif run_type == "backfill":
        extra["window"] = window_of(dag_run)
    return RunRequest(
        run_id=_UNSAFE.sub("_", str(dag_run.run_id)),
        stack=spec.name,
        trigger=TriggerKind.MANUAL,
        full_refresh=bool(conf.get("full_refresh", False)),
        **extra,
    )


def start(binding: Binding, orchestrator: str) -> dict[str, Any]:
    ctx = _context()
    request = request_for(binding, ctx["dag_run"])
    spec = binding.spec()
    selection = resolve(spec, request.select, request.exclude)
    ledger = Ledger(binding.warehouse())
    earlier = ledger.get(request.run_id)
    if earlier is None:
        started_at = ledger.start(spec.name, orchestrator, request).started_at
    else:
        # a cleared task of this DAG run runs its setup again: the same run, not a new one, so
        # it keeps its start (its duration then spans every attempt)
        started_at = earlier.started_at
        ledger.record(
            earlier.model_copy(
                update={"status": RunStatus.RUNNING, "finished_at": None, "error": None}
            )
        )
    return {
        "request": request.model_dump(mode="json", by_alias=True),
        "started_at": started_at.isoformat(),
        "steps": list(selection.steps),
        "models": list(selection.models),
        "runs_transform": selection.runs_transform,
        "transform_select": list(selection.transform_select()),
    }


def _state(ti: Any) -> tuple[dict[str, Any], RunRequest]:
    state = ti.xcom_pull(task_ids=START)
    return state, RunRequest.model_validate(state["request"])


def _fail(ti: Any, step: str, exc: BaseException, warehouse: Warehouse) -> Exception:
    """Push ``step``'s one sentence and return what the task raises: a transient failure (the
    warehouse restarting, a connection lost) is left to the task's retries (exponential
    backoff); any other is an ``AirflowFailException``, which Airflow never retries."""
    from stacks_core.retry import is_transient

    sentence = error_sentence(step, exc, warehouse)
    ti.xcom_push(key=ERROR_KEY, value=sentence)
    report = reporter_for(ti.run_id)
    if is_transient(exc):
        attempt = int(getattr(ti, "try_number", 1) or 1)
        report(step, f"attempt {attempt} failed (transient, Airflow retries it): {sentence}")
        return StackTaskFailed(sentence)
    report(step, f"failed: {sentence}")
    return final_failure(sentence)


def final_failure(sentence: str) -> Exception:
    """The exception that fails a task at once, without its retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(sentence)


def run_el(binding: Binding, step_name: str) -> dict[str, Any] | None:
    ti = _context()["ti"]
    state, request = _state(ti)
    if step_name not in state["steps"]:
        _skip(f"EL step {step_name!r} is not selected in this run")
    warehouse = binding.warehouse()
    step = binding.spec().step(step_name)
    report = reporter_for(request.run_id)
    report(step_name, "running (Airflow task)")
    try:
        result = step.run(request, warehouse, report)
    except Exception as exc:
        partial = getattr(exc, "result", None)  # the tables that did load (el-dlt's)
        if isinstance(partial, LoadResult):
            ti.xcom_push(key=PARTIAL_KEY, value=partial.model_dump(mode="json", by_alias=True))
        raise _fail(ti, step_name, exc, warehouse) from exc
    _changed_outlets(result)
    return result.model_dump(mode="json", by_alias=True)


def _changed_outlets(result: LoadResult) -> None:
    """Airflow records an asset event for every outlet of a task that succeeds: keep only the
    tables this load wrote rows to (a DAG scheduled on ``raw.orders`` must not run for a load
    of 0 rows), each event carrying its row count. The outlets are set afresh every run."""
    ctx = _context()
    task = ctx["task"]
    declared = getattr(task, "_stacks_outlets", None)
    if declared is None:
        declared = task._stacks_outlets = list(task.outlets)
    task.outlets = [a for a in declared if result.rows.get(a.name)]
    for asset in task.outlets:
        ctx["outlet_events"][asset].extra = {"rows": result.rows[asset.name], "step": result.step}


def run_transform(binding: Binding) -> None:
    ti = _context()["ti"]
    state, request = _state(ti)
    if not state["runs_transform"]:
        _skip("no transform node is selected in this run")
    warehouse = binding.warehouse()
    transform = binding.spec().transform
    if transform is None:
        _skip("the stack has no transform")
    report = reporter_for(request.run_id)
    sub = request.model_copy(update={"select": tuple(state["transform_select"])})
    try:
        result = transform.run(sub, warehouse, report)
    except Exception as exc:
        partial = getattr(exc, "result", None)  # a failed dbt run still reports every node
        if isinstance(partial, TransformResult):
            ti.xcom_push(key=TRANSFORM_KEY, value=partial.model_dump(mode="json", by_alias=True))
        raise _fail(ti, transform.name, exc, warehouse) from exc
    ti.xcom_push(key=TRANSFORM_KEY, value=result.model_dump(mode="json", by_alias=True))
    if not result.ok:
        sentence = result.failure_sentence(transform.name)
        raise _fail(ti, transform.name, StacksError(sentence), warehouse)


def merge_transform_results(results: list[TransformResult], run_id: str) -> TransformResult | None:
    """One result from several transform tasks (Cosmos runs one dbt command per task)."""
    if not results:
        return None
    return TransformResult(
        run_id=run_id,
        models=tuple(m for r in results for m in r.models),
        tests=tuple(t for r in results for t in r.tests),
        started_at=min(r.started_at for r in results),
        finished_at=max(r.finished_at for r in results),
    )


def finish(
    binding: Binding,
    orchestrator: str,
    el_tasks: dict[str, str],
    transform_tasks: list[str],
    transform_step: str,
) -> dict[str, Any] | None:
    """Record the run in the ledger (the teardown: runs whatever failed)."""
    ctx = _context()
    ti = ctx["ti"]
    state = ti.xcom_pull(task_ids=START)
    if not state:
        return None  # the start failed: the run never began, nothing was recorded
    request = RunRequest.model_validate(state["request"])
    warehouse = binding.warehouse()
    loads = []
    for task_id in el_tasks.values():
        raw = ti.xcom_pull(task_ids=task_id) or ti.xcom_pull(task_ids=task_id, key=PARTIAL_KEY)
        if raw:
            loads.append(LoadResult.model_validate(raw))
    results = []
    for task_id in transform_tasks:
        raw = ti.xcom_pull(task_ids=task_id, key=TRANSFORM_KEY)
        if raw:
            results.append(TransformResult.model_validate(raw))
    error = None
    for task_id in [*el_tasks.values(), *transform_tasks]:
        error = ti.xcom_pull(task_ids=task_id, key=ERROR_KEY)
        if error:
            break
    if error is None:
        error = _failed_task_sentence(ti, [*el_tasks.values(), *transform_tasks])
    merged = merge_transform_results(results, request.run_id)
    if merged is not None and not merged.ok:
        error = None if error and transform_step in error else error  # from_results says it
    record = RunRecord.from_results(
        request,
        stack=binding.spec().name,
        orchestrator=orchestrator,
        started_at=datetime.fromisoformat(state["started_at"]),
        loads=loads,
        transform=merged,
        transform_step=transform_step,
        error=error,
    )
    Ledger(warehouse).record(record)
    reporter_for(request.run_id)("airflow", f"run {record.status.value}")
    if record.status == RunStatus.FAILED and not isinstance(binding, Bound):
        # recorded; failing too puts this teardown among the failed tasks that "clear only
        # failed" re-runs, so a retry of the run from its failures is recorded again (an
        # in-process run ends here: its caller reads the ledger, and a traceback is noise)
        raise final_failure(f"The run failed: {record.error}")
    return record.model_dump(mode="json", by_alias=True)


def _failed_task_sentence(ti: Any, task_ids: list[str]) -> str | None:
    """A task that failed without saying why (killed, timed out, a Cosmos task whose dbt never
    ran): name it and its Airflow state."""
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=task_ids, run_ids=[ti.run_id])
    except Exception:
        return None
    for_run = states.get(ti.run_id, {}) if isinstance(states, dict) else {}
    for task_id in task_ids:
        if for_run.get(task_id) in ("failed", "upstream_failed"):
            return f"Step {task_id!r} failed: the Airflow task ended {for_run[task_id]}."
    return None
