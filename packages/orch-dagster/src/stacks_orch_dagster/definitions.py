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

__all__ = ["ALL_JOB", "StackDefinitions", "build_definitions", "native_module"]

ALL_JOB = "stack_job"


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

    def asset_selection(self, selection: Selection) -> Any:
        """The contract's resolved selection as exactly those assets (no re-interpretation)."""
        from dagster import AssetSelection

        if selection.everything:
            return AssetSelection.assets(*self.all_keys())
        keys: list[Any] = []
        for step in selection.steps:
            keys.extend(self.step_keys[step])
        for node in selection.models:
            if node not in self.transform_keys:
                raise ConfigError(f"The transform has no asset for node {node!r}.")
            keys.append(self.transform_keys[node])
        return AssetSelection.assets(*keys)

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
) -> tuple[Any, dict[TableRef, Any]]:
    dlt = native_module("dlt") if native else None
    if dlt is not None and dlt.is_dlt_step(step):
        return dlt.dlt_step_assets(stack, step, warehouse, freshness_policy, retries)
    return generic_el_assets(stack, step, warehouse, retries, freshness_policy)


def _transform_assets(
    stack: StackSpec,
    transform: Transform,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    dbt_runner: str,
    native: bool,
    retries: Retries,
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    dbt = native_module("dbt") if native else None
    if dbt is not None and dbt.is_dbt_transform(transform):
        return dbt.dbt_transform_assets(
            stack, transform, warehouse, source_keys, dbt_runner, retries
        )
    return generic_transform_assets(stack, transform, warehouse, source_keys, retries)


def build_definitions(
    stack: StackSpec,
    warehouse: Warehouse,
    *,
    retries: int = 3,
    retry_delay: float = 1.0,
    dbt_runner: str = "in-process",
    native: bool = True,
) -> StackDefinitions:
    """Every EL step and the transform as assets, plus the stack's triggers and freshness.

    ``dbt_runner``: ``"in-process"`` runs a dbt transform through its own ``run()`` (dbt's
    programmatic runner, manifest reused between runs) and translates the result into Dagster
    events; ``"cli"`` uses dagster-dbt's ``DbtCliResource`` (a ``dbt`` subprocess per run).
    ``native=False`` runs every step through the ports even when the extras are installed.
    Every EL and transform asset retries a transient failure (the warehouse restarting, a
    connection lost) ``retries`` times, waiting ``retry_delay`` s and doubling; any other
    failure fails its step at once."""
    if dbt_runner not in ("in-process", "cli"):
        raise ConfigError(f"dbt_runner must be 'in-process' or 'cli', not {dbt_runner!r}.")
    from dagster import AssetSelection, Definitions, FreshnessPolicy, define_asset_job

    from stacks_orch_dagster.ledger_sensors import ledger_sensors
    from stacks_orch_dagster.triggers import trigger_definitions

    p = plan(stack)  # raises ConfigError for ambiguous or missing tables, before any tool work
    retry = Retries(retries=max(0, retries), delay=retry_delay)
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
        a, keys = _el_assets(stack, step, warehouse, retry, freshness, native)
        assets.append(a)
        step_keys[step.name] = sorted(set(keys.values()), key=str)
        table_keys.update(keys)

    transform_keys: dict[str, Any] = {}
    lineage: dict[TableRef, Any] = {}
    if stack.transform is not None:
        source_keys = {t: table_keys[t] for t in p.sources}
        a, transform_keys, lineage = _transform_assets(
            stack, stack.transform, warehouse, source_keys, dbt_runner, native, retry
        )
        assets.append(a)

    sd = StackDefinitions(
        defs=None,
        assets=assets,
        step_keys=step_keys,
        table_keys=table_keys,
        transform_keys=transform_keys,
        source_lineage=lineage,
    )
    all_job = define_asset_job(
        ALL_JOB,
        selection=AssetSelection.assets(*sd.all_keys()),
        tags={"stacks/stack": stack.name},
    )
    jobs, schedules, trigger_sensors = trigger_definitions(stack, sd, all_job)
    ledger = ledger_sensors(stack, warehouse, {k: n for n, k in transform_keys.items()})
    sd.defs = Definitions(
        assets=assets,
        jobs=[all_job, *jobs],
        schedules=schedules,
        sensors=[*trigger_sensors, *ledger],
    )
    return sd
