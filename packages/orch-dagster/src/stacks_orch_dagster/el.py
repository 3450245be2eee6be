"""EL steps as assets through the port: any :class:`~stacks_contract.ports.ELStep`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from stacks_contract.models import LoadResult, StackSpec, TableRef
from stacks_contract.ports import ELStep
from stacks_contract.warehouse import Warehouse

from stacks_orch_dagster.failures import Retries, fail
from stacks_orch_dagster.keys import EL_GROUP, op_name, table_key
from stacks_orch_dagster.runstate import RunState, state_for

__all__ = ["generic_el_assets", "rows_metadata"]


def generic_el_assets(
    stack: StackSpec,
    step: ELStep,
    warehouse: Warehouse,
    retries: Retries,
    freshness_policy: Any,
    partitioning: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[TableRef, Any]]:
    from dagster import AssetSpec, MaterializeResult, multi_asset

    tables = tuple(step.produces())
    keys = {t: table_key(t) for t in tables}
    specs = [
        AssetSpec(
            key=keys[t],
            group_name=EL_GROUP,
            description=f"{t} loaded by EL step {step.name!r}",
            metadata={"stacks/table": t.key, "stacks/step": step.name},
            kinds={"python"},
            freshness_policy=freshness_policy,
        )
        for t in tables
    ]

    @multi_asset(
        name=op_name(f"el_{step.name}"),
        specs=specs,
        retry_policy=retries.policy(),
        **(partitioning or {}),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name, warehouse)
        try:
            result = step.run(state.request, warehouse, state.report)
        except Exception as exc:
            partial = getattr(exc, "result", None)  # the tables that did load (el-dlt's)
            if isinstance(partial, LoadResult):
                state.loads[step.name] = partial
            raise fail(state, step.name, exc, warehouse, context, retries) from exc
        state.errors.pop(step.name, None)
        state.loads[step.name] = result
        for t in tables:
            yield MaterializeResult(asset_key=keys[t], metadata=rows_metadata(result, t, state))

    return _assets, keys


def rows_metadata(result: LoadResult, table: TableRef, state: RunState) -> dict[str, Any]:
    return {
        "rows": int(result.rows.get(table.key, 0)),
        "quarantined": int(result.quarantined.get(table.key, 0)),
        "stacks/step": result.step,
        "stacks/run_id": state.request.run_id,
    }
