"""dbt transforms as dagster-dbt assets (the ``[dbt]`` extra: stacks-transform-dbt, dagster-dbt).

Imported only when the extra is installed; typed against transform-dbt's real
:class:`DbtTransform`. A dbt model keeps dagster-dbt's default key (the model name); each dbt
source is re-keyed to the EL asset producing that table (from ``manifest.plan``); dbt tests are
asset checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, MaterializeResult, Output
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from stacks_contract.errors import ConfigError, StepFailed
from stacks_contract.models import NodeStatus, StackSpec, TableRef, TransformResult, utcnow
from stacks_contract.ports import Transform
from stacks_contract.warehouse import Warehouse
from stacks_core.retry import is_transient, transient_message
from stacks_transform_dbt import DbtTransform

from stacks_orch_dagster.failures import Retries, fail
from stacks_orch_dagster.keys import TRANSFORM_GROUP, op_name
from stacks_orch_dagster.runstate import RunState, state_for

__all__ = ["StackDbtTranslator", "dbt_executable", "dbt_transform_assets", "is_dbt_transform"]


def is_dbt_transform(transform: Transform) -> bool:
    return isinstance(transform, DbtTransform)


def dbt_executable() -> str:
    """``dbt`` next to this interpreter (a venv's bin), else whatever PATH has."""
    here = Path(sys.executable).parent / "dbt"
    return str(here) if here.exists() else (shutil.which("dbt") or "dbt")


@contextlib.contextmanager
def _environ(extra: Mapping[str, str]) -> Iterator[None]:
    """dagster-dbt copies os.environ into the dbt subprocess: secrets travel this way only."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update({k: str(v) for k, v in extra.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _source_ref(props: Mapping[str, Any]) -> TableRef:
    return TableRef(
        schema=str(props["schema"]).lower(),
        name=str(props.get("identifier") or props["name"]).lower(),
    )


class StackDbtTranslator(DagsterDbtTranslator):
    """Sources become the EL assets that produce their tables; models join the transform group.

    dlt child tables share their root's asset (dagster#21090), so two dbt sources (orders,
    orders__items) map to one key: duplicates are allowed (dagster#19701).
    """

    def __init__(self, source_keys: Mapping[TableRef, Any]) -> None:
        super().__init__(
            settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
        )
        self.source_keys = dict(source_keys)
        #: dbt source table -> the EL asset key it was mapped to (lineage)
        self.lineage: dict[TableRef, Any] = {}

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> Any:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") == "source":
            ref = _source_ref(props)
            if ref not in self.source_keys:
                raise ConfigError(
                    f"dbt source {props.get('source_name')}.{props.get('name')} reads {ref}, "
                    "which no EL step of the stack produces."
                )
            self.lineage[ref] = self.source_keys[ref]
            return spec.replace_attributes(key=self.source_keys[ref])
        return spec.replace_attributes(group_name=TRANSFORM_GROUP)


def dbt_transform_assets(
    stack: StackSpec,
    transform: DbtTransform,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    dbt_runner: str = "in-process",
    retries: Retries | None = None,
    partitioning: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    """The dagster-dbt assets, every node name -> its asset key, and the source lineage.
    A transient failure (the warehouse restarting mid-build) is retried with backoff."""
    retries = retries or Retries()
    manifest = json.loads(Path(transform.manifest_path(warehouse)).read_text())
    translator = StackDbtTranslator(source_keys)
    names: dict[str, Any] = {}  # node name -> asset key
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            names[node["name"]] = translator.get_asset_spec(manifest, unique_id, None).key

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=translator,
        name=op_name(f"transform_{transform.name}"),
        retry_policy=retries.policy(),
        **(partitioning or {}),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name, warehouse)
        if dbt_runner == "cli":
            yield from _dbt_cli(context, state, transform, warehouse, retries)
        else:
            yield from _dbt_in_process(context, state, transform, warehouse, names, retries)

    return _assets, names, translator.lineage


def _failed(
    state: RunState, transform: Transform, result: TransformResult, warehouse: Warehouse
) -> Exception:
    sentence = result.failure_sentence(transform.name)
    detail = sentence.split(": ", 1)[1].rstrip(".") if ": " in sentence else sentence
    return fail(state, transform.name, StepFailed(transform.name, detail + "."), warehouse)


def _dbt_in_process(
    context: Any,
    state: RunState,
    transform: DbtTransform,
    warehouse: Warehouse,
    model_keys: dict,
    retries: Retries,
) -> Iterator[Any]:
    """``transform.run`` (dbt's in-process runner, parsed manifest reused) translated into the
    events dagster-dbt would stream: a materialization per model, a check result per test."""
    selected = set(context.selected_asset_keys)
    request = state.request
    # a subset (dagster already added what is downstream); context.assets_def is the
    # *subsetted* definition then, so compare with every model this project has
    if not selected >= set(model_keys.values()):
        chosen = tuple(sorted(n for n, k in model_keys.items() if k in selected))
        request = request.model_copy(update={"select": chosen})
    else:
        request = request.model_copy(update={"select": ()})
    failure: BaseException | None = None
    try:
        result = transform.run(request, warehouse, state.report)
    except Exception as exc:
        partial = getattr(exc, "result", None)  # DbtStepFailed carries every node's outcome
        if not isinstance(partial, TransformResult) or is_transient(exc):
            # a lost connection: retried (a rebuild converges), nothing half-reported
            raise fail(state, transform.name, exc, warehouse, context, retries) from exc
        result, failure = partial, exc
    state.transform = result
    for m in result.models:
        key = model_keys.get(m.name)
        if m.status == NodeStatus.SUCCESS and key in selected:
            meta: dict[str, Any] = {"stacks/run_id": request.run_id, "seconds": round(m.seconds, 3)}
            if m.rows_affected is not None:
                meta["rows_affected"] = int(m.rows_affected)
            yield MaterializeResult(asset_key=key, metadata=meta)
    checks = {(spec.asset_key, spec.name): spec for spec in context.assets_def.check_specs}
    wanted = set(context.selected_asset_check_keys)
    for t in result.tests:
        key = model_keys.get(t.model or "")
        spec = checks.get((key, t.name))
        if spec is None or spec.key not in wanted or t.status == NodeStatus.SKIPPED:
            continue
        yield AssetCheckResult(
            asset_key=key,
            check_name=t.name,
            passed=t.status in (NodeStatus.PASS, NodeStatus.WARN),
            severity=AssetCheckSeverity.WARN
            if t.status == NodeStatus.WARN
            else AssetCheckSeverity.ERROR,
            metadata={"failures": int(t.failures), **({"message": t.message} if t.message else {})},
        )
    if failure is not None or not result.ok:
        raise _failed(state, transform, result, warehouse)
    state.errors.pop(transform.name, None)


def _dbt_cli(
    context: Any, state: RunState, transform: DbtTransform, warehouse: Warehouse, retries: Retries
) -> Iterator[Any]:
    """dagster-dbt's own path: ``DbtCliResource.cli(["build"])`` in a subprocess, streamed; the
    contract's result comes from the run_results.json it leaves."""
    request = state.request
    started = utcnow()
    try:
        inv = transform.invocation(warehouse, request)
        dbt = DbtCliResource(
            project_dir=os.fspath(inv.project_dir),
            profiles_dir=os.fspath(inv.profiles_dir),
            profile=getattr(inv, "profile", None) or None,
            target=inv.target,
            dbt_executable=dbt_executable(),
        )
        args = ["build"]
        if inv.vars:
            args += ["--vars", json.dumps(inv.vars)]
        if request.full_refresh:
            args.append("--full-refresh")
        state.report(transform.name, "dbt build (dagster-dbt CLI)")
        with _environ(inv.env):
            invocation = dbt.cli(
                args, context=context, raise_on_error=False, target_path=Path(inv.target_path)
            )
            for ev in invocation.stream():
                if isinstance(ev, Output):
                    state.report(transform.name, f"built {ev.output_name}")
                elif isinstance(ev, AssetCheckResult):
                    verdict = "passed" if ev.passed else "FAILED"
                    state.report(transform.name, f"test {ev.check_name} {verdict}")
                yield ev
        result = transform.result_from_run_results(
            invocation.target_path / "run_results.json", request, started
        )
    except Exception as exc:
        raise fail(state, transform.name, exc, warehouse, context, retries) from exc
    state.transform = result
    lost = [m.message or "" for m in result.models if m.status is NodeStatus.ERROR]
    if lost and all(transient_message(m) for m in lost):
        error = StepFailed(transform.name, "; ".join(lost))
        error.transient = True
        raise fail(state, transform.name, error, warehouse, context, retries)
    if not result.ok or not invocation.is_successful():
        raise _failed(state, transform, result, warehouse)
    state.errors.pop(transform.name, None)
