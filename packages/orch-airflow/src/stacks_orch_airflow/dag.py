"""One Airflow DAG per stack, from its :class:`~stacks_contract.models.StackSpec`.

Shape (task ids)::

    stacks_start >> el_<step> ... >> transform_<name> | <dbt task group> >> stacks_finish

* every EL step is one task running ``ELStep.run`` through the port, with every table it produces
  as an Airflow Asset outlet (``schema.table``);
* the transform is one task through the port, or (``[dbt]`` extra, a dbt transform) a Cosmos
  ``DbtTaskGroup`` with a task per model and its tests after it (:mod:`stacks_orch_airflow.dbt`);
* dependencies come from the table manifest (:func:`stacks_contract.manifest.plan`): a transform
  task waits for the EL tasks producing the tables it reads, and nothing else;
* ``stacks_start``/``stacks_finish`` are a setup/teardown pair writing the ledger row.

Building a DAG touches neither the source nor the warehouse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from stacks_contract.manifest import plan
from stacks_contract.models import CronTrigger, StackSpec
from stacks_contract.warehouse import DuckDBWarehouse

from stacks_orch_airflow import tasks
from stacks_orch_airflow.binding import Binding

__all__ = ["DEFAULT_RETRIES", "DEFAULT_RETRY_DELAY", "build_dag", "dag_id_for", "task_id"]

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY = timedelta(seconds=30)
ORCHESTRATOR = "airflow"
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_\-]")


def dag_id_for(stack: str) -> str:
    """The DAG id of a stack: its name (Airflow allows letters, digits, ``-``, ``_``, ``.``)."""
    return stack


def task_id(prefix: str, name: str) -> str:
    return f"{prefix}_{_UNSAFE_ID.sub('_', name)}"


def _asset(table: Any) -> Any:
    from airflow.sdk import Asset

    return Asset(name=table.key, uri=f"stacks://{table.schema_name}/{table.name}")


def _schedule(spec: StackSpec) -> Any:
    """The cron trigger as Airflow's data-interval timetable: a run is due at each tick and
    covers the interval since the previous one, so ``airflow backfill create`` gives every run
    a data interval (its window). A scheduled run still loads what is new since the last run."""
    crons = [t for t in spec.triggers if isinstance(t, CronTrigger)]
    if not crons:
        return None
    from airflow.timetables.interval import CronDataIntervalTimetable

    return CronDataIntervalTimetable(crons[0].cron, timezone=crons[0].timezone)


def _concurrency(binding: Binding) -> dict[str, Any]:
    """A DuckDB file admits one writing process: under a parallel executor its tasks would fail
    on the file lock, so its DAG runs one task at a time (Postgres: in parallel)."""
    return {"max_active_tasks": 1} if isinstance(binding.warehouse(), DuckDBWarehouse) else {}


def build_dag(
    spec: StackSpec,
    binding: Binding,
    *,
    dag_id: str | None = None,
    retries: int = DEFAULT_RETRIES,
    retry_delay: timedelta = DEFAULT_RETRY_DELAY,
    dbt: bool | None = None,
    orchestrator: str = ORCHESTRATOR,
    pre_execute: Callable[[Any], None] | None = None,
) -> Any:
    """The DAG of ``spec``; its tasks reach the steps through ``binding``.

    ``pre_execute``: every task's pre-execute hook (the in-process run's interrupt check).

    ``dbt``: render a dbt transform with Cosmos (default: when the ``[dbt]`` extra is installed
    and the transform is a ``DbtTransform``); False runs any transform as one task."""
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    # ConfigError for an ambiguous or missing table, before any task exists
    p = plan(_declared(spec, binding, dbt))
    default_args = {
        "retries": retries,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": max(retry_delay * 8, timedelta(seconds=1)),
        "depends_on_past": False,
        **({"pre_execute": pre_execute} if pre_execute is not None else {}),
    }
    dag = DAG(
        dag_id=dag_id or dag_id_for(spec.name),
        schedule=_schedule(spec),
        catchup=False,
        max_active_runs=1,
        **_concurrency(binding),
        default_args=default_args,
        tags=["stacks"],
        description=spec.description or f"stacks: {spec.name}",
        doc_md=f"Stack `{spec.name}` (built by stacks-orch-airflow).",
    )
    with dag:
        start = PythonOperator(
            task_id=tasks.START,
            python_callable=functools.partial(tasks.start, binding, orchestrator),
        )
        el: dict[str, Any] = {}
        for step in spec.el_steps:
            el[step.name] = PythonOperator(
                task_id=task_id("el", step.name),
                python_callable=functools.partial(tasks.run_el, binding, step.name),
                # from the plan: produces() can be costly (el-dlt builds its dlt source)
                outlets=[_asset(t) for t, s in p.produced_by.items() if s == step.name],
                doc_md=f"EL step `{step.name}` ({type(step).__name__}).",
            )
            start >> el[step.name]
        transform_tasks: list[str] = []
        transform_step = "transform"
        if spec.transform is not None:
            transform = spec.transform
            transform_step = transform.name
            upstream = {t: el[s] for t, s in p.sources.items()}
            rendered = _cosmos_group(spec, binding, upstream, dbt)
            if rendered is not None:
                transform_tasks = rendered
                for tid in rendered:  # the group's roots (models reading no EL table)
                    root = dag.get_task(tid)
                    if not root.upstream_task_ids:
                        root.trigger_rule = "all_success"  # what a setup's direct child needs
                        start >> root
            else:
                node = PythonOperator(
                    task_id=task_id("transform", transform.name),
                    python_callable=functools.partial(tasks.run_transform, binding),
                    outlets=[_asset(t) for t in transform.produces()],
                    trigger_rule="none_failed",
                    doc_md=f"Transform `{transform.name}` ({type(transform).__name__}).",
                )
                transform_tasks = [node.task_id]
                for up in sorted(set(upstream.values()), key=lambda t: t.task_id) or [start]:
                    up >> node
        finish = PythonOperator(
            task_id=tasks.FINISH,
            python_callable=functools.partial(
                tasks.finish,
                binding,
                orchestrator,
                {name: t.task_id for name, t in el.items()},
                transform_tasks,
                transform_step,
            ),
        )
        for t in list(dag.tasks):
            if t is not finish and t is not start:
                t >> finish
        finish.as_teardown(setups=start)
    return dag


def _dbt_module(spec: StackSpec, dbt: bool | None) -> Any:
    """:mod:`stacks_orch_airflow.dbt` when the transform is rendered with Cosmos, else None."""
    if dbt is False or spec.transform is None:
        return None
    try:
        from stacks_orch_airflow import dbt as module
    except ImportError:
        if dbt:
            raise
        return None
    if not module.is_dbt_transform(spec.transform):
        if dbt:
            from stacks_contract.errors import ConfigError

            raise ConfigError(
                f"dbt=True, but the transform of stack {spec.name!r} is not a DbtTransform."
            )
        return None
    return module


def _declared(spec: StackSpec, binding: Binding, dbt: bool | None) -> StackSpec:
    """``spec`` whose dbt transform declares its tables from manifest.json (no dbt import)."""
    module = _dbt_module(spec, dbt)
    if module is None:
        return spec
    tables = module.declared(spec.transform, binding.warehouse())
    return spec.model_copy(update={"transform": tables})


def _cosmos_group(
    spec: StackSpec, binding: Binding, upstream: dict[Any, Any], dbt: bool | None
) -> list[str] | None:
    """The transform as a Cosmos task group (its task ids), or None to use one plain task."""
    module = _dbt_module(spec, dbt)
    return None if module is None else module.render_dbt(spec, binding, upstream)
