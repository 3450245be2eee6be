"""dbt through Cosmos: the ``[dbt]`` extra (stacks-transform-dbt + astronomer-cosmos).

A :class:`~stacks_transform_dbt.DbtTransform` becomes a Cosmos ``DbtTaskGroup``: one task per model
running the model and then its tests (``TestBehavior.BUILD``; a test reading two models runs as its
own task after both), rendered from the manifest the
transform itself parses (``LoadMode.DBT_MANIFEST``: no ``dbt ls`` at parse time; the manifest is
re-parsed only when the project changed). The profile is the transform's own (rendered from the
warehouse, its password an ``env_var()``); the password reaches dbt through the task's process
environment, set just before the dbt command and removed after it.

Every model task waits for the EL tasks producing the sources it reads (from the manifest), its
``stacks_run_id`` var is the run's id (and ``stacks_window_start/end`` its window), it skips
itself when the run's selection leaves it out (a test reading several models: when none of them
is selected), runs dbt against the manifest parsed once per process with the stack's stable vars,
and hands its dbt run results (as a :class:`TransformResult`) to ``stacks_finish``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRequest, StackSpec, TableRef, TransformResult, utcnow
from stacks_contract.ports import Transform
from stacks_transform_dbt import DbtTransform, window_vars
from stacks_transform_dbt.profiles import profile_env

from stacks_orch_airflow import tasks
from stacks_orch_airflow.binding import Binding, Bound, reporter_for
from stacks_orch_airflow.home import locked

__all__ = [
    "DeclaredTables",
    "declared",
    "fresh_manifest",
    "is_dbt_transform",
    "prime",
    "render_dbt",
]

RUN_ID_VAR = "stacks_run_id"
_SUFFIXES = ("", "_model_build", "_seed_build", "_snapshot_build", "_build", "_run", "_test")
_SKIP_DIRS = {"target", "logs", "dbt_packages", ".git", "__pycache__"}
_RUN_ID = "{{ ti.xcom_pull(task_ids='" + tasks.START + "')['request']['run_id'] }}"
_FULL_REFRESH = "{{ ti.xcom_pull(task_ids='" + tasks.START + "')['request']['full_refresh'] }}"


def is_dbt_transform(transform: object) -> bool:
    return isinstance(transform, DbtTransform)


def _newest_mtime(project_dir: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        for f in files:
            newest = max(newest, Path(root, f).stat().st_mtime)
    return newest


def fresh_manifest(transform: DbtTransform, warehouse: Any) -> Path:
    """The transform's ``manifest.json`` for ``warehouse``, parsed by dbt only when it is older
    than a file of the project (so a DAG file's parse reads JSON, it does not run dbt)."""
    path = transform.state_dir(warehouse) / "target" / "manifest.json"
    if path.exists() and path.stat().st_mtime >= _newest_mtime(transform.project_dir):
        return path
    return Path(transform.manifest_path(warehouse))


class DeclaredTables(Transform):
    """The table manifest of a dbt transform, read from its ``manifest.json`` (what
    :func:`~stacks_contract.manifest.plan` needs at DAG-parse time, without importing dbt)."""

    def __init__(self, name: str, consumes: tuple[TableRef, ...], produces: tuple[TableRef, ...]):
        self.name = name
        self._consumes, self._produces = consumes, produces

    def consumes(self) -> tuple[TableRef, ...]:
        return self._consumes

    def produces(self) -> tuple[TableRef, ...]:
        return self._produces

    def run(self, request: RunRequest, warehouse: Any, report: Any = None) -> TransformResult:
        raise NotImplementedError("DeclaredTables only declares tables")


def declared(transform: DbtTransform, warehouse: Any) -> DeclaredTables:
    manifest = json.loads(fresh_manifest(transform, warehouse).read_text())
    produced = {
        TableRef(schema=n["schema"], name=n.get("alias") or n["name"])
        for n in manifest.get("nodes", {}).values()
        if n.get("resource_type") in ("model", "seed", "snapshot")
        and n.get("config", {}).get("materialized") != "ephemeral"
    }
    consumed = set(_sources(manifest).values()) - produced
    return DeclaredTables(
        transform.name,
        tuple(sorted(consumed, key=lambda t: t.key)),
        tuple(sorted(produced, key=lambda t: t.key)),
    )


def _sources(manifest: dict[str, Any]) -> dict[str, TableRef]:
    return {
        uid: TableRef(schema=str(s["schema"]).lower(), name=str(s["identifier"]).lower())
        for uid, s in manifest.get("sources", {}).items()
    }


def _request(ti: Any) -> RunRequest:
    return RunRequest.model_validate(ti.xcom_pull(task_ids=tasks.START)["request"])


def _pre_execute(
    binding: Binding, models: dict[str, str], tests: dict[str, tuple[str, ...]], context: Any
) -> None:
    """Skip a model the run does not select, and a test task (one reading several models) none
    of whose models it selects (dbt's eager indirect selection, what ``dbt build --select``
    runs elsewhere); put the warehouse secret into the environment."""
    from airflow.sdk.exceptions import AirflowSkipException

    state = context["ti"].xcom_pull(task_ids=tasks.START)
    task_id = context["ti"].task_id
    model = _model_of(task_id, models)
    if model is not None and model not in state["models"]:
        raise AirflowSkipException(f"dbt model {model!r} is not selected in this run")
    parents = tests.get(task_id)
    if parents is not None and not set(parents) & set(state["models"]):
        raise AirflowSkipException(f"no model this test reads ({', '.join(parents)}) is selected")
    context["ti"].xcom_push(key="stacks_started_at", value=utcnow().isoformat())
    os.environ.update(profile_env(binding.warehouse()))
    _window_vars(context["task"], RunRequest.model_validate(state["request"]))
    _use_parsed_manifest(binding, context["task"], state["request"]["run_id"])


def _window_vars(task: Any, request: RunRequest) -> None:
    """The run's window as dbt vars (``stacks_window_start`` / ``_end``), as a direct run of the
    transform passes them; set afresh every run (an in-process DAG keeps its task objects)."""
    base = getattr(task, "_stacks_vars", None)
    if base is None:
        base = task._stacks_vars = dict(getattr(task, "vars", None) or {})
    task.vars = {**base, **window_vars(request.window)}


def _use_parsed_manifest(binding: Binding, task: Any, run_id: str) -> None:
    """dbt runs against the transform's manifest, parsed with the stack's stable vars: once per
    process (an in-process run parsed it before the DAG started; a scheduler's task process
    parses it here, partially from dbt's saved state). Cosmos would let dbt parse the project
    in every task with the run's vars, and a var that changes every run (the run id) makes dbt
    drop its partial-parse state: a full parse in every run's first tasks. The task's own vars
    still reach the commands it runs. An in-process run also reports every node it finishes,
    as a direct run does, and keeps what exists now out of the collections Cosmos and the
    DuckDB release run after the task (the run unfreezes it)."""
    import gc

    from stacks_orch_airflow.inprocess import dbt_extra_args, run_dbt_with_manifest

    transform = binding.spec().transform
    if isinstance(transform, DbtTransform) and hasattr(task, "run_dbt_runner"):
        warehouse = binding.warehouse()
        if isinstance(binding, Bound):
            manifest = transform.parsed(warehouse)
        else:  # parallel task processes: one parses, the others then read its saved state
            with locked(transform.state_dir(warehouse) / ".parse.lock"):
                manifest = transform.parsed(warehouse)
        progress = functools.partial(_progress, transform.name, reporter_for(run_id))
        task.run_dbt_runner = run_dbt_with_manifest(manifest, dbt_extra_args(), task, progress)
    if isinstance(binding, Bound):
        gc.freeze()


def _progress(step: str, report: Any, msg: Any) -> None:
    """dbt's event callback: a Reporter line per finished node (``model stg_orders: success``)."""
    with contextlib.suppress(Exception):
        if msg.info.name == "NodeFinished":
            ni = msg.data.node_info
            report(step, f"{ni.resource_type} {ni.node_name}: {ni.node_status}")


def prime(spec: StackSpec, warehouse: Any, report: Any = None) -> None:
    """Parse the dbt project of ``spec`` for ``warehouse`` once, before an in-process run: the
    tasks run against it, and the stack's table manifest comes from it (no second parse)."""
    if isinstance(spec.transform, DbtTransform):
        if report is None:
            spec.transform.parsed(warehouse)
        else:
            spec.transform.parsed(warehouse, report)


def _post_execute(context: Any, result: Any = None) -> None:
    from stacks_transform_dbt.profiles import PASSWORD_ENV

    os.environ.pop(PASSWORD_ENV, None)
    _release_duckdb()


def _on_failure(binding: Binding, transform_name: str, context: Any) -> None:
    _post_execute(context)
    ti = context["ti"]
    if ti.xcom_pull(task_ids=ti.task_id, key=tasks.ERROR_KEY):
        return
    exc = context.get("exception")
    if exc is not None:
        sentence = tasks.error_sentence(transform_name, exc, binding.warehouse())
        ti.xcom_push(key=tasks.ERROR_KEY, value=sentence)


def _release_duckdb() -> None:
    """dbt-duckdb keeps the DuckDB file open between in-process invocations; let it go so the
    next task (an EL step, the ledger) can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb not installed: nothing to release
        return
    DuckDBConnectionManager.close_all_connections()
    import gc

    gc.collect()


def _collect(transform: DbtTransform, project_dir: str, **kwargs: Any) -> None:
    """Cosmos callback after each dbt command: its run results as a TransformResult."""
    ti = kwargs["context"]["ti"]
    run_results = Path(project_dir) / "target" / "run_results.json"
    if not run_results.exists():
        return
    started = ti.xcom_pull(task_ids=ti.task_id, key="stacks_started_at")
    result = transform.result_from_run_results(
        run_results, _request(ti), datetime.fromisoformat(started) if started else utcnow()
    )
    ti.xcom_push(key=tasks.TRANSFORM_KEY, value=result.model_dump(mode="json", by_alias=True))
    if not result.ok:
        sentence = result.failure_sentence(transform.name)
        ti.xcom_push(key=tasks.ERROR_KEY, value=sentence)
        from stacks_contract.models import NodeStatus
        from stacks_core.retry import transient_message

        errors = [m.message or "" for m in result.models if m.status is NodeStatus.ERROR]
        errors += [t.message or "" for t in result.tests if t.status is NodeStatus.ERROR]
        if errors and all(transient_message(m) for m in errors):
            return  # the connection was lost: Cosmos raises, the task's retries run it again
        # a failing model or test: a retry cannot fix it, fail the task now (no retries)
        raise tasks.final_failure(sentence)


def render_dbt(
    spec: StackSpec, binding: Binding, upstream: dict[TableRef, Any], test_behavior: str = "build"
) -> list[str]:
    """Add the transform's Cosmos task group to the current DAG; return its task ids.

    ``test_behavior`` is Cosmos's: ``build`` (default) runs ``dbt build`` per model, the model
    then its tests in one task; ``after_each`` gives every model a run task and a test task."""
    from airflow.sdk import Asset
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    transform = spec.transform
    if not isinstance(transform, DbtTransform):
        raise TypeError(f"render_dbt needs a DbtTransform, not {type(transform).__name__}")
    warehouse = binding.warehouse()
    inv = transform.invocation(warehouse, RunRequest(run_id="dag", stack=spec.name))
    manifest_path = fresh_manifest(transform, warehouse)
    manifest = json.loads(manifest_path.read_text())
    dbt_vars = {**inv.vars, RUN_ID_VAR: _RUN_ID}
    # Cosmos gets every node's own model name so a task knows what it builds
    models = {
        n["name"]: uid
        for uid, n in manifest.get("nodes", {}).items()
        if n.get("resource_type") in ("model", "seed", "snapshot")
    }
    # filled below, once the tasks exist: a detached test task's id -> the models it reads
    tests: dict[str, tuple[str, ...]] = {}
    group = DbtTaskGroup(
        group_id=f"dbt_{transform.name}",
        project_config=ProjectConfig(
            dbt_project_path=transform.project_dir,
            manifest_path=manifest_path,
            project_name=transform.project_name,
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name=transform.profile_name,
            target_name=inv.target,
            profiles_yml_filepath=inv.profiles_dir / "profiles.yml",
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior[test_behavior.upper()],
            emit_datasets=False,
            # a test reading two models (relationships) runs after both, as its own task
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={
            "vars": dbt_vars,
            "install_deps": False,
            "trigger_rule": "none_failed",
            "callback": functools.partial(_collect, transform),
            "pre_execute": functools.partial(_pre_execute, binding, models, tests),
            "post_execute": _post_execute,
            "on_failure_callback": functools.partial(_on_failure, binding, transform.name),
        },
    )
    sources = _sources(manifest)
    ids: list[str] = []
    for task in group.children_tasks() if hasattr(group, "children_tasks") else _walk(group):
        ids.append(task.task_id)
        model = _model_of(task.task_id, models)
        if model is None:
            parents = _test_parents(task.task_id, manifest, models)
            if parents is not None:
                tests[task.task_id] = parents
            continue

        uid = models[model]
        node = manifest["nodes"][uid]
        if not task.task_id.endswith((".test", "_test")):
            table = TableRef(schema=node["schema"], name=node.get("alias") or node["name"])
            task.outlets = [Asset(name=table.key, uri=f"stacks://{table.schema_name}/{table.name}")]
            for parent in node.get("depends_on", {}).get("nodes", []):
                ref = sources.get(parent)
                if ref is None:
                    continue
                for t, el in upstream.items():
                    if t.name == ref.name:
                        el >> task
    return ids


def _test_parents(
    task_id: str, manifest: dict[str, Any], models: dict[str, str]
) -> tuple[str, ...] | None:
    """The models a detached test task (``group.<test name>_test``) reads, or None."""
    name = task_id.split(".")[-1].removesuffix("_test")
    by_uid = {uid: m for m, uid in models.items()}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "test" and node.get("name") == name:
            parents = node.get("depends_on", {}).get("nodes", [])
            return tuple(sorted(by_uid[p] for p in parents if p in by_uid))
    return None


def _walk(group: Any) -> list[Any]:
    out = []
    for child in group.children.values():
        if hasattr(child, "children"):
            out.extend(_walk(child))
        else:
            out.append(child)
    return out


def _model_of(task_id: str, models: dict[str, str]) -> str | None:
    """The model a Cosmos task builds or tests, from its id (``group.model.run``,
    ``group.model_build``, ...); None for a task of no single model."""
    for part in reversed(task_id.split(".")):
        for suffix in _SUFFIXES:
            name = part[: -len(suffix)] if suffix and part.endswith(suffix) else part
            if (not suffix or part.endswith(suffix)) and name in models:
                return name
    return None
