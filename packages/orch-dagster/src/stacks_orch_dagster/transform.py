"""A transform as assets through the port: any :class:`~stacks_contract.ports.Transform`.

One multi-asset over the produced tables (``[schema, table]`` keys), subsettable when the
transform supports selection; node names come from :meth:`Transform.nodes`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from stacks_contract.errors import StepFailed
from stacks_contract.models import StackSpec, TableRef
from stacks_contract.ports import Transform
from stacks_contract.warehouse import Warehouse

from stacks_orch_dagster.failures import Retries, fail
from stacks_orch_dagster.keys import TRANSFORM_GROUP, op_name, table_key
from stacks_orch_dagster.runstate import state_for

__all__ = ["generic_transform_assets"]


def generic_transform_assets(
    stack: StackSpec,
    transform: Transform,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    retries: Retries | None = None,
    partitioning: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    """The assets, every node name -> its asset key, and the source lineage."""
    retries = retries or Retries()
    from dagster import AssetSpec, MaterializeResult, multi_asset

    deps = sorted({source_keys[t] for t in transform.consumes()}, key=str)
    tables = tuple(transform.produces())
    keys = {t: table_key(t) for t in tables}
    nodes = {n.name: keys[n.table] for n in transform.nodes() if n.table in keys}
    specs = [
        AssetSpec(
            key=keys[t],
            deps=deps,
            group_name=TRANSFORM_GROUP,
            metadata={"stacks/table": t.key, "stacks/step": transform.name},
            kinds={"sql"},
        )
        for t in tables
    ]

    @multi_asset(
        name=op_name(f"transform_{transform.name}"),
        specs=specs,
        can_subset=True,
        retry_policy=retries.policy(),
        **(partitioning or {}),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name, warehouse)
        request = state.request
        selected = set(context.selected_asset_keys)
        chosen: tuple[str, ...] = ()
        if transform.supports_selection and selected != set(keys.values()):
            chosen = tuple(sorted(n for n, k in nodes.items() if k in selected))
        request = request.model_copy(update={"select": chosen, "exclude": ()})
        try:
            result = transform.run(request, warehouse, state.report)
        except Exception as exc:
            raise fail(state, transform.name, exc, warehouse, context, retries) from exc
        state.transform = result
        state.errors.pop(transform.name, None)  # an earlier attempt's transient error
        for t in tables:
            if keys[t] in selected:
                yield MaterializeResult(
                    asset_key=keys[t], metadata={"stacks/run_id": request.run_id}
                )
        if not result.ok:
            sentence = result.failure_sentence(transform.name)
            detail = sentence.split(": ", 1)[1] if ": " in sentence else sentence
            raise fail(state, transform.name, StepFailed(transform.name, detail), warehouse)

    return _assets, nodes, {t: source_keys[t] for t in transform.consumes()}
