"""Dagster definitions from a :class:`~stacks_contract.models.StackSpec`.

Every EL step and the transform become assets; the stack's triggers become schedules and
sensors (:mod:`.triggers`); the ledger sensors record runs Dagster launches itself. With the
``[dlt]`` / ``[dbt]`` extras, el-dlt steps and dbt transforms get dagster-dlt / dagster-dbt
assets (:mod:`.dlt`, :mod:`.dbt`); anything else (or ``native=False``) runs through the ports
(:mod:`.el`, :mod:`.transform`). Every asset body reads the stacks run id from the Dagster run's
tags (:mod:`.runstate`), so the id reaches every step whoever launched the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from stacks_contract.errors import ConfigError
from stacks_contract.manifest import plan
from stacks_contract.models import StackSpec, TableRef
from stacks_contract.ports import ELStep, Transform
from stacks_contract.selection import Selection
from stacks_contract.warehouse import Warehouse

from stacks_orch_dagster.el import generic_el_assets
from stacks_orch_dagster.failures import Retries
from stacks_orch_dagster.transform import generic_transform_assets

__all__ = ["StackDefinitions", "build_definitions", "native_module"]


@dataclass
class StackDefinitions:
    """Definitions plus the key maps the orchestrator needs to select and report."""

    defs: Any  # dagster.Definitions
    assets: list[Any]  # AssetsDefinitions run by the stack (no freshness checks)
    #: EL step name -> its asset keys
    step_keys: dict[str, list[Any]]
    #: every EL-produced table -> the asset key writing it (child tables -> their root asset)
    table_keys: dict[TableRef, Any]
    #: transform node name -> asset key
    transform_keys: dict[str, Any] = field(default_factory=dict)
    #: transform source (schema.table) -> EL asset key it was mapped to (lineage)
    source_lineage: dict[TableRef, Any] = field(default_factory=dict)
    #: the job running the whole stack (named after the stack)
    job_name: str = ""
    #: trigger index -> the name of its schedule or sensor
    trigger_names: dict[int, str] = field(default_factory=dict)

    def asset_selection(self, selection: Selection) -> Any:
        """The contract's resolved selection as exactly those assets (no re-interpretation)."""
        from dagster import AssetSelection

        return AssetSelection.assets(*self.selected_keys(selection))

    def selected_keys(self, selection: Selection) -> list[Any]:
        """The asset keys of the contract's resolved selection."""
        if selection.everything:
            return self.all_keys()
        keys: list[Any] = []
        for step in selection.steps:
            keys.extend(self.step_keys[step])
        for node in selection.models:
            if node not in self.transform_keys:
                raise ConfigError(f"The transform has no asset for node {node!r}.")
            keys.append(self.transform_keys[node])
        return keys

    def all_keys(self) -> list[Any]:
        keys: list[Any] = []
        for a in self.assets:
            keys.extend(a.keys)
        return keys


def native_module(kind: str) -> ModuleType | None:
    """:mod:`.dlt` or :mod:`.dbt` when its extra is installed, else None (generic path)."""
    try:
        if kind == "dlt":
            from stacks_orch_dagster import dlt as module
        else:
            from stacks_orch_dagster import dbt as module  # type: ignore[no-redef]
    except ImportError:
        return None
    return module


def _el_assets(
    stack: StackSpec,
    step: ELStep,
    warehouse: Warehouse,
    retries: Retries,
    freshness_policy: Any,
    native: bool,
    partitioning: dict[str, Any],
) -> tuple[Any, dict[TableRef, Any]]:
    dlt = native_module("dlt") if native else None
    if dlt is not None and dlt.is_dlt_step(step):
        return dlt.dlt_step_assets(stack, step, warehouse, freshness_policy, retries, partitioning)
    return generic_el_assets(stack, step, warehouse, retries, freshness_policy, partitioning)


def _transform_assets(
    stack: StackSpec,
    transform: Transform,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    dbt_runner: str,
    native: bool,
    retries: Retries,
    partitioning: dict[str, Any],
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    dbt = native_module("dbt") if native else None
    if dbt is not None and dbt.is_dbt_transform(transform):
        return dbt.dbt_transform_assets(
            stack, transform, warehouse, source_keys, dbt_runner, retries, partitioning
        )
    return generic_transform_assets(stack, transform, warehouse, source_keys, retries, partitioning)


def build_definitions(
    stack: StackSpec,
    warehouse: Warehouse,
    *,
    retries: int = 3,
    retry_delay: float = 1.0,
    dbt_runner: str = "in-process",
    native: bool = True,
    partitions: Any = None,
) -> StackDefinitions:
    """Every EL step and the transform as assets, plus the stack's triggers and freshness.

    ``dbt_runner``: ``"in-process"`` runs a dbt transform through its own ``run()`` (dbt's
    programmatic runner, manifest reused between runs) and translates the result into Dagster
    events; ``"cli"`` uses dagster-dbt's ``DbtCliResource`` (a ``dbt`` subprocess per run).
    ``native=False`` runs every step through the ports even when the extras are installed.
    ``partitions``: a Dagster ``TimeWindowPartitionsDefinition`` for every asset; a run of a
    partition (a backfill of a range of them: one run, ``BackfillPolicy.single_run``) is a
    window run (``RunRequest.window`` = the partitions' time window), and the cron triggers'
    schedules request the partition each tick closes.
    Every EL and transform asset retries a transient failure (the warehouse restarting, a
    connection lost) ``retries`` times, waiting ``retry_delay`` s and doubling; any other
    failure fails its step at once."""
    if dbt_runner not in ("in-process", "cli"):
        raise ConfigError(f"dbt_runner must be 'in-process' or 'cli', not {dbt_runner!r}.")
    from dagster import (
        AssetSelection,
        BackfillPolicy,
        Definitions,
        FreshnessPolicy,
        define_asset_job,
    )

    from stacks_orch_dagster.keys import stack_job_name
    from stacks_orch_dagster.ledger_sensors import ledger_sensors
    from stacks_orch_dagster.runstate import TAG_STACK, TAG_WAREHOUSE, warehouse_tag
    from stacks_orch_dagster.triggers import trigger_definitions, trigger_names

    p = plan(stack)  # raises ConfigError for ambiguous or missing tables, before any tool work
    retry = Retries(retries=max(0, retries), delay=retry_delay)
    partitioning: dict[str, Any] = {}
    if partitions is not None:
        # a backfill of a range of partitions is one run: one window
        single = BackfillPolicy.single_run()
        partitioning = {"partitions_def": partitions, "backfill_policy": single}
    # the freshness bound rides on every EL asset as a policy (Dagster evaluates it; no sensor)
    freshness = (
        FreshnessPolicy.time_window(fail_window=stack.freshness.max_lag)
        if stack.freshness is not None
        else None
    )
    assets: list[Any] = []
    step_keys: dict[str, list[Any]] = {}
    table_keys: dict[TableRef, Any] = {}
    for step in stack.el_steps:
        a, keys = _el_assets(stack, step, warehouse, retry, freshness, native, partitioning)
        assets.append(a)
        step_keys[step.name] = sorted(set(keys.values()), key=str)
        table_keys.update(keys)

    transform_keys: dict[str, Any] = {}
    lineage: dict[TableRef, Any] = {}
    if stack.transform is not None:
        source_keys = {t: table_keys[t] for t in p.sources}
        a, transform_keys, lineage = _transform_assets(
            stack, stack.transform, warehouse, source_keys, dbt_runner, native, retry, partitioning
        )
        assets.append(a)

    sd = StackDefinitions(
        defs=None,
        assets=assets,
        step_keys=step_keys,
        table_keys=table_keys,
        transform_keys=transform_keys,
        source_lineage=lineage,
        job_name=stack_job_name(stack.name),
        trigger_names={i: name for i, (name, _job) in trigger_names(stack).items()},
    )
    wtag = warehouse_tag(warehouse)
    all_job = define_asset_job(
        sd.job_name,
        selection=AssetSelection.assets(*sd.all_keys()),
        tags={TAG_STACK: stack.name, TAG_WAREHOUSE: wtag},
        description=f"Every step of stack {stack.name!r}: EL, then the transform.",
    )
    jobs, schedules, trigger_sensors = trigger_definitions(stack, sd, all_job, wtag, partitions)
    ledger = ledger_sensors(stack, warehouse, {k: n for n, k in transform_keys.items()})
    sd.defs = Definitions(
        assets=assets,
        jobs=[all_job, *jobs],
        schedules=schedules,
        sensors=[*trigger_sensors, *ledger],
    )
    return sd
