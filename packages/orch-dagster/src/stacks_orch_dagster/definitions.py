"""Dagster definitions from a :class:`~stacks_contract.models.StackSpec`.

Asset keys:

* an EL table is ``[schema, table]``; a dlt step gets one asset per dlt *resource* (keyed by its
  root table) and its child tables (``orders__items``) belong to that asset (dagster#21090);
* a dbt model keeps dagster-dbt's default key (the model name), so ``select=("fct_orders",)`` works;
  each dbt source is re-keyed to the EL asset producing that table (from ``manifest.plan``);
* any other transform is one multi-asset over its produced tables, ``[schema, table]``.

Every asset body reads the stacks run id from the Dagster run's tags (:mod:`.runstate`), so the id
reaches every step whoever launched the run.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacks_contract.errors import ConfigError, StacksError, StepFailed
from stacks_contract.manifest import plan
from stacks_contract.models import (
    LoadResult,
    NodeStatus,
    RunRequest,
    StackSpec,
    TableRef,
    TransformResult,
    utcnow,
)
from stacks_contract.warehouse import Warehouse, redact

from stacks_orch_dagster.capabilities import is_dbt_transform, is_dlt_step
from stacks_orch_dagster.runstate import RunState, state_for

EL_GROUP = "el"
TRANSFORM_GROUP = "transform"
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
    #: transform table / model name -> asset key
    transform_keys: dict[str, Any] = field(default_factory=dict)
    #: dbt source (schema.table) -> EL asset key it was mapped to (lineage)
    source_lineage: dict[TableRef, Any] = field(default_factory=dict)

    def asset_selection(self, names: Sequence[str]) -> Any:
        """``request.select`` -> an AssetSelection: each named asset and everything downstream.

        A name may be an EL step name, a table ``schema.table``, an asset key ``a/b`` or a dbt
        model name."""
        from dagster import AssetKey, AssetSelection

        if not names:
            return AssetSelection.assets(*self.all_keys())
        known = set(self.all_keys())
        keys: list[Any] = []
        for name in names:
            if name in self.step_keys:
                keys.extend(self.step_keys[name])
                continue
            if name in self.transform_keys:
                keys.append(self.transform_keys[name])
                continue
            if "." in name and "/" not in name:
                with contextlib.suppress(ValueError):
                    ref = TableRef.parse(name)
                    if ref in self.table_keys:
                        keys.append(self.table_keys[ref])
                        continue
            key = AssetKey.from_user_string(name)
            if key not in known:
                raise ConfigError(
                    f"Nothing named {name!r} to run: expected an EL step "
                    f"({', '.join(sorted(self.step_keys))}), a table or an asset key "
                    f"({', '.join(sorted(k.to_user_string() for k in known))})."
                )
            keys.append(key)
        return AssetSelection.assets(*keys).downstream()

    def all_keys(self) -> list[Any]:
        keys: list[Any] = []
        for a in self.assets:
            keys.extend(a.keys)
        return keys


def op_name(name: str) -> str:
    """A Dagster op name from anything: letters, digits and underscores only."""
    cleaned = re.sub(r"\W", "_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def table_key(table: TableRef) -> Any:
    from dagster import AssetKey

    return AssetKey([table.schema_name, table.name])


def _error_sentence(step: str, exc: BaseException, warehouse: Warehouse) -> str:
    if isinstance(exc, StepFailed):
        return redact(str(exc), warehouse)
    text = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, StacksError):
        text = f"{type(exc).__name__}: {text.splitlines()[0]}"
    return redact(f"Step {step!r} failed: {text}", warehouse)


class AssetStepFailed(StacksError):
    """What an asset raises: the step's one sentence, so Dagster's UI and the ledger sensors show
    the same text the RunRecord carries (the original exception stays its ``__cause__``)."""

    def __init__(self, step: str, sentence: str) -> None:
        super().__init__(sentence)
        self.step = step


def _fail(state: RunState, step: str, exc: BaseException, warehouse: Warehouse) -> AssetStepFailed:
    state.errors[step] = _error_sentence(step, exc, warehouse)
    state.report(step, f"failed: {state.errors[step]}")
    return AssetStepFailed(step, state.errors[step])


# --- EL -----------------------------------------------------------------------------------------


def _el_assets(
    stack: StackSpec, step: Any, warehouse: Warehouse, retry_policy: Any, freshness_policy: Any
) -> tuple[Any, dict[TableRef, Any]]:
    if is_dlt_step(step):
        return _dlt_assets(stack, step, warehouse, retry_policy, freshness_policy)
    return _generic_el_assets(stack, step, warehouse, retry_policy, freshness_policy)


def _generic_el_assets(
    stack: StackSpec, step: Any, warehouse: Warehouse, retry_policy: Any, freshness_policy: Any
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

    @multi_asset(name=op_name(f"el_{step.name}"), specs=specs, retry_policy=retry_policy)
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name)
        try:
            result = step.run(state.request, warehouse, state.report)
        except Exception as exc:
            raise _fail(state, step.name, exc, warehouse) from exc
        state.errors.pop(step.name, None)
        state.loads[step.name] = result
        for t in tables:
            yield MaterializeResult(asset_key=keys[t], metadata=_rows_metadata(result, t, state))

    return _assets, keys


def _rows_metadata(result: LoadResult, table: TableRef, state: RunState) -> dict[str, Any]:
    return {
        "rows": int(result.rows.get(table.key, 0)),
        "quarantined": int(result.quarantined.get(table.key, 0)),
        "stacks/run_id": state.request.run_id,
    }


def _dlt_assets(
    stack: StackSpec, step: Any, warehouse: Warehouse, retry_policy: Any, freshness_policy: Any
) -> tuple[Any, dict[TableRef, Any]]:
    from dagster import MaterializeResult
    from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets

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

    class Translator(DagsterDltTranslator):
        def get_asset_spec(self, data: Any) -> Any:
            spec = super().get_asset_spec(data)
            name = data.resource.name
            if name not in resource_keys:
                raise ConfigError(
                    f"dlt resource {name!r} of step {step.name!r} writes no table the step "
                    "declares."
                )
            return spec.replace_attributes(
                key=resource_keys[name],
                deps=[],  # the source API is outside the warehouse: no stub upstream assets
                group_name=EL_GROUP,
                freshness_policy=freshness_policy,
            ).merge_attributes(
                metadata={
                    "stacks/table": root[name].key,
                    "stacks/step": step.name,
                    "stacks/child_tables": ", ".join(children[name]) or "-",
                }
            )

    # Definitions need a source only for its resource list; runs build a fresh one per request.
    placeholder = RunRequest(run_id="definitions", stack=stack.name)

    @dlt_assets(
        dlt_source=step.dlt_source(placeholder),
        dlt_pipeline=step.dlt_pipeline(warehouse),
        name=op_name(f"el_{step.name}"),
        dagster_dlt_translator=Translator(),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name)
        request = state.request
        started = utcnow()
        try:
            pipeline = step.dlt_pipeline(warehouse)
            state.report(step.name, "loading with dlt (dagster-dlt)")
            events = list(
                DagsterDltResource().run(
                    context=context,
                    dlt_source=_fresh_source(step, request, pipeline),
                    dlt_pipeline=pipeline,
                    dagster_dlt_translator=Translator(),
                )
            )
            result = step.load_result(pipeline, request, started)
            step.finalize(pipeline, request)
        except Exception as exc:
            raise _fail(state, step.name, _translated(step, exc, warehouse), warehouse) from exc
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
                    "stacks/run_id": request.run_id,
                },
            )

    return _assets, keys


def _translated(step: Any, exc: Exception, warehouse: Warehouse) -> BaseException:
    """The step's own one-sentence error for a dlt exception raised outside ``step.run`` (el-dlt
    names it ``translate_error``; ``_translate`` before that), else the exception itself."""
    for attr in ("translate_error", "_translate"):
        translate = getattr(step, attr, None)
        if callable(translate):
            with contextlib.suppress(Exception):
                return translate(exc, warehouse)
    return exc


def _fresh_source(step: Any, request: RunRequest, pipeline: Any) -> Any:
    """``step.dlt_source(request)``, handing over the pipeline when the step accepts it (el-dlt
    reads the pipeline's stored schema to know which column types are declared)."""
    try:
        params = inspect.signature(step.dlt_source).parameters
    except (TypeError, ValueError):
        params = {}
    if "pipeline" in params:
        return step.dlt_source(request, pipeline=pipeline)
    return step.dlt_source(request)


# --- transform ----------------------------------------------------------------------------------


def _transform_assets(
    stack: StackSpec,
    transform: Any,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    dbt_runner: str,
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    if is_dbt_transform(transform):
        return _dbt_assets(stack, transform, warehouse, source_keys, dbt_runner)
    return _generic_transform_assets(stack, transform, warehouse, source_keys)


def _generic_transform_assets(
    stack: StackSpec, transform: Any, warehouse: Warehouse, source_keys: dict[TableRef, Any]
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    from dagster import AssetSpec, MaterializeResult, multi_asset

    deps = sorted({source_keys[t] for t in transform.consumes()}, key=str)
    tables = tuple(transform.produces())
    keys = {t: table_key(t) for t in tables}
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

    @multi_asset(name=op_name(f"transform_{transform.name}"), specs=specs, can_subset=True)
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name)
        request = state.request
        selected = set(context.selected_asset_keys)
        if transform.supports_selection and selected != set(keys.values()):
            names = tuple(t.name for t, k in keys.items() if k in selected)
            request = request.model_copy(update={"select": names})
        else:
            request = request.model_copy(update={"select": ()})
        try:
            result = transform.run(request, warehouse, state.report)
        except Exception as exc:
            raise _fail(state, transform.name, exc, warehouse) from exc
        state.transform = result
        for t in tables:
            if keys[t] in selected:
                yield MaterializeResult(
                    asset_key=keys[t], metadata={"stacks/run_id": request.run_id}
                )
        if not result.ok:
            exc = StepFailed(transform.name, _transform_failure(result))
            raise _fail(state, transform.name, exc, warehouse) from None

    names: dict[str, Any] = {}
    for t, k in keys.items():
        names[t.key] = k
        names.setdefault(t.name, k)
    return _assets, names, {t: source_keys[t] for t in transform.consumes()}


def _transform_failure(result: TransformResult) -> str:
    bad = [m for m in result.models if m.status == NodeStatus.ERROR]
    failed = [t for t in result.tests if t.status in (NodeStatus.FAIL, NodeStatus.ERROR)]
    parts = []
    if bad:
        parts.append(
            "model(s) "
            + ", ".join(f"{m.name}" + (f" ({m.message})" if m.message else "") for m in bad)
            + " failed"
        )
    if failed:
        parts.append(
            f"{len(failed)} test(s) failed: "
            + ", ".join(t.name + (f" ({t.failures} rows)" if t.failures else "") for t in failed)
        )
    return "; ".join(parts) or "the transform reported a failure"


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


def _dbt_assets(
    stack: StackSpec,
    transform: Any,
    warehouse: Warehouse,
    source_keys: dict[TableRef, Any],
    dbt_runner: str = "in-process",
) -> tuple[Any, dict[str, Any], dict[TableRef, Any]]:
    from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets

    manifest_path = Path(transform.manifest_path(warehouse))
    manifest = json.loads(manifest_path.read_text())
    lineage: dict[TableRef, Any] = {}

    class Translator(DagsterDbtTranslator):
        def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> Any:
            spec = super().get_asset_spec(manifest, unique_id, project)
            props = self.get_resource_props(manifest, unique_id)
            if props.get("resource_type") == "source":
                ref = _source_ref(props)
                if ref not in source_keys:
                    raise ConfigError(
                        f"dbt source {props.get('source_name')}.{props.get('name')} reads {ref}, "
                        "which no EL step of the stack produces."
                    )
                lineage[ref] = source_keys[ref]
                return spec.replace_attributes(key=source_keys[ref])
            return spec.replace_attributes(group_name=TRANSFORM_GROUP)

    # dlt child tables share their root's asset (dagster#21090), so two dbt sources
    # (orders, orders__items) map to one key: allow it (dagster#19701)
    translator = Translator(
        settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
    )

    names: dict[str, Any] = {}  # model name (and schema.table) -> asset key
    model_keys: dict[str, Any] = {}  # model name -> asset key
    for unique_id, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") in ("model", "seed", "snapshot"):
            key = translator.get_asset_spec(manifest, unique_id, None).key
            model_keys[node["name"]] = key
            names[node["name"]] = key
            names.setdefault(f"{node.get('schema')}.{node.get('alias') or node['name']}", key)

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=translator,
        name=op_name(f"transform_{transform.name}"),
    )
    def _assets(context) -> Iterator[Any]:
        state = state_for(context, stack.name)
        if dbt_runner == "cli":
            yield from _dbt_cli(context, state, transform, warehouse)
        else:
            yield from _dbt_in_process(context, state, transform, warehouse, model_keys)

    return _assets, names, lineage


def _dbt_in_process(
    context: Any, state: RunState, transform: Any, warehouse: Warehouse, model_keys: dict
) -> Iterator[Any]:
    """``transform.run`` (dbt's in-process runner, parsed manifest reused) translated into the
    events dagster-dbt would stream: a materialization per model, a check result per test."""
    from dagster import AssetCheckResult, AssetCheckSeverity, MaterializeResult

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
        result = getattr(exc, "result", None)  # DbtStepFailed carries every node's outcome
        if not isinstance(result, TransformResult):
            raise _fail(state, transform.name, exc, warehouse) from exc
        failure = exc
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
        exc = StepFailed(transform.name, _transform_failure(result))
        raise _fail(state, transform.name, exc, warehouse) from None
    state.errors.pop(transform.name, None)


def _dbt_cli(context: Any, state: RunState, transform: Any, warehouse: Warehouse) -> Iterator[Any]:
    """dagster-dbt's own path: ``DbtCliResource.cli(["build"])`` in a subprocess, streamed; the
    contract's result comes from the run_results.json it leaves."""
    from dagster import AssetCheckResult, Output
    from dagster_dbt import DbtCliResource

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
        raise _fail(state, transform.name, exc, warehouse) from exc
    state.transform = result
    if not result.ok or not invocation.is_successful():
        exc = StepFailed(transform.name, _transform_failure(result))
        raise _fail(state, transform.name, exc, warehouse) from None
    state.errors.pop(transform.name, None)


def _source_ref(props: Mapping[str, Any]) -> TableRef:
    return TableRef(
        schema=str(props["schema"]).lower(),
        name=str(props.get("identifier") or props["name"]).lower(),
    )


# --- assembly -----------------------------------------------------------------------------------


def build_definitions(
    stack: StackSpec,
    warehouse: Warehouse,
    *,
    retries: int = 2,
    retry_delay: float = 1.0,
    dbt_runner: str = "in-process",
) -> StackDefinitions:
    """Every EL step and the transform as assets, plus the stack's triggers and freshness.

    ``dbt_runner``: ``"in-process"`` runs a dbt transform through its own ``run()`` (dbt's
    programmatic runner, manifest reused between runs) and translates the result into Dagster
    events; ``"cli"`` uses dagster-dbt's ``DbtCliResource`` (a ``dbt`` subprocess per run, which
    re-parses the project because the run-id var changes)."""
    if dbt_runner not in ("in-process", "cli"):
        raise ConfigError(f"dbt_runner must be 'in-process' or 'cli', not {dbt_runner!r}.")
    from dagster import (
        AssetSelection,
        Backoff,
        Definitions,
        FreshnessPolicy,
        RetryPolicy,
        define_asset_job,
    )

    from stacks_orch_dagster.ledger_sensors import ledger_sensors
    from stacks_orch_dagster.triggers import trigger_definitions

    p = plan(stack)  # raises ConfigError for ambiguous or missing tables, before any tool work
    retry = (
        RetryPolicy(max_retries=retries, delay=retry_delay, backoff=Backoff.EXPONENTIAL)
        if retries > 0
        else None
    )
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
        a, keys = _el_assets(stack, step, warehouse, retry, freshness)
        assets.append(a)
        step_keys[step.name] = sorted(set(keys.values()), key=str)
        table_keys.update(keys)

    transform_keys: dict[str, Any] = {}
    lineage: dict[TableRef, Any] = {}
    if stack.transform is not None:
        source_keys = {t: table_keys[t] for t in p.sources}
        a, transform_keys, lineage = _transform_assets(
            stack, stack.transform, warehouse, source_keys, dbt_runner
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
    ledger = ledger_sensors(stack.name, warehouse, set(transform_keys.values()))
    sd.defs = Definitions(
        assets=assets,
        jobs=[all_job, *jobs],
        schedules=schedules,
        sensors=[*trigger_sensors, *ledger],
    )
    return sd
