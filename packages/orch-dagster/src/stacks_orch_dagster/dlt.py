"""dlt steps as dagster-dlt assets (the ``[dlt]`` extra: stacks-el-dlt and dagster-dlt).

Imported only when the extra is installed; typed against el-dlt's real :class:`DltStep`. A dlt
step gets one asset per dlt *resource*, keyed by its root table; its child tables
(``orders__items``) belong to that asset (dagster#21090).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetSpec, MaterializeResult
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData
from stacks_contract.errors import ConfigError
from stacks_contract.models import LoadResult, RunRequest, StackSpec, TableRef, utcnow
from stacks_contract.ports import ELStep
from stacks_contract.warehouse import Warehouse
from stacks_el_dlt import DltStep

from stacks_orch_dagster.failures import Retries, fail
from stacks_orch_dagster.keys import EL_GROUP, op_name, table_key
from stacks_orch_dagster.runstate import state_for

__all__ = ["StackDltTranslator", "dlt_step_assets", "is_dlt_step"]


def is_dlt_step(step: ELStep) -> bool:
    return isinstance(step, DltStep)


class StackDltTranslator(DagsterDltTranslator):
    """Keys each resource's asset by the table the step declares for it; no upstream stubs."""

    def __init__(
        self,
        step: DltStep,
        resource_keys: Mapping[str, Any],
        roots: Mapping[str, TableRef],
        children: Mapping[str, list[str]],
        freshness_policy: Any,
    ) -> None:
        self.step = step
        self.resource_keys = dict(resource_keys)
        self.roots = dict(roots)
        self.children = dict(children)
        self.freshness_policy = freshness_policy

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        name = data.resource.name
        if name not in self.resource_keys:
            raise ConfigError(
                f"dlt resource {name!r} of step {self.step.name!r} writes no table the step "
                "declares."
            )
        return spec.replace_attributes(
            key=self.resource_keys[name],
            deps=[],  # the source API is outside the warehouse: no stub upstream assets
            group_name=EL_GROUP,
            freshness_policy=self.freshness_policy,
        ).merge_attributes(
            metadata={
                "stacks/table": self.roots[name].key,
                "stacks/step": self.step.name,
                "stacks/child_tables": ", ".join(self.children[name]) or "-",
            }
        )


def dlt_step_assets(
    stack: StackSpec,
    step: DltStep,
    warehouse: Warehouse,
    freshness_policy: Any,
    retries: Retries | None = None,
    partitioning: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[TableRef, Any]]:
    """The dagster-dlt assets of ``step`` and the asset key of every table it writes.

    ``dlt_assets`` takes no retry policy: a transient failure asks Dagster for a retry itself
    (``RetryRequested``, see :mod:`.failures`); any other fails the step at once."""
    retries = retries or Retries()
    resources = dict(step.table_resources())
    # the asset of a resource is keyed by its root table: the shortest table name it writes
    root: dict[str, TableRef] = {}
    for t, res in sorted(resources.items(), key=lambda kv: (len(kv[0].name), kv[0].name)):
        root.setdefault(res, t)
    resource_keys = {res: table_key(t) for res, t in root.items()}
    keys = {t: resource_keys[res] for t, res in resources.items()}
    children = {
        res: sorted(t.key for t, r in resources.items() if r == res and t != root[res])
        for res in root
    }
    translator = StackDltTranslator(step, resource_keys, root, children, freshness_policy)
    # Definitions need a source only for its resource list; runs build a fresh one per request.
    placeholder = RunRequest(run_id="definitions", stack=stack.name)

    @dlt_assets(
        dlt_source=step.dlt_source(placeholder),
        dlt_pipeline=step.dlt_pipeline(warehouse),
        name=op_name(f"el_{step.name}"),
        dagster_dlt_translator=translator,
        **(partitioning or {}),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name, warehouse)
        request = state.request
        started = utcnow()
        try:
            pipeline = step.dlt_pipeline(warehouse, state.report)  # dlt's row counts, as lines
            state.report(step.name, "loading with dlt (dagster-dlt)")
            # a full refresh, or raw tables dropped since the last run: dlt's refresh= mode
            refresh = step.refresh_mode(pipeline, request, warehouse, state.report)
            events = list(
                DagsterDltResource().run(
                    context=context,
                    dlt_source=step.dlt_source(request, pipeline=pipeline),
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=translator,
                    **({"refresh": refresh} if refresh else {}),
                )
            )
            result = step.load_result(pipeline, request, started)
            step.finalize(pipeline, request)
        except Exception as exc:
            partial = getattr(exc, "result", None)  # the tables that did load
            if isinstance(partial, LoadResult):
                state.loads[step.name] = partial
            error = step.translate_error(exc, warehouse)
            raise fail(state, step.name, error, warehouse, context, retries) from exc
        state.errors.pop(step.name, None)
        state.loads[step.name] = result
        state.report(step.name, f"{result.total_rows} rows loaded")
        for ev in events:
            per_table = {
                t: n for t, n in result.rows.items() if keys.get(TableRef.parse(t)) == ev.asset_key
            }
            yield MaterializeResult(
                asset_key=ev.asset_key,
                metadata={
                    **dict(ev.metadata or {}),
                    "rows": int(sum(per_table.values())),
                    "rows_per_table": json.dumps(per_table, sort_keys=True),
                    "stacks/step": step.name,
                    "stacks/run_id": request.run_id,
                },
            )

    return _assets, keys
