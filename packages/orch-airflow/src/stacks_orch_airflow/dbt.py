"""dbt through Cosmos: the ``[dbt]`` extra (stacks-transform-dbt + astronomer-cosmos).

A :class:`~stacks_transform_dbt.DbtTransform` becomes a Cosmos ``DbtTaskGroup`` in Cosmos's
``ExecutionMode.WATCHER``: one producer task runs a single ``dbt build`` of the run's selection
(what calling the transform directly does), and every model has its own task, then a task for its
tests (``TestBehavior.AFTER_EACH``; a test reading two models runs as its own task after both);
those tasks complete from the producer's dbt events (a model's task fails when its model did, its
test task when one of its tests did; ``mode="local"``: one ``dbt build`` per model, 12
invocations for the shop project where the watcher runs one). The group is rendered from the
manifest the transform itself parses (``LoadMode.DBT_MANIFEST``: no ``dbt ls`` at parse time;
the manifest is re-parsed only when the project changed). The profile is the transform's own
(rendered from the warehouse, its password an ``env_var()``); the password reaches dbt through
the task's process environment, set just before the dbt command and removed after it.

The producer waits for the EL tasks producing the sources the project reads, and every model
task waits for the producer (so an in-process ``dag.test()``, which runs one task at a time, never
polls for a build that has not started) and for the EL tasks of its own sources. The
``stacks_run_id`` var is the run's id; the producer builds only the run's selection (and skips
when it selects no dbt node), a model task skips itself when the selection leaves it out, and the
producer hands its dbt run results (as a :class:`TransformResult`) to ``stacks_finish``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from stacks_contract.models import RunRequest, StackSpec, TableRef, TransformResult, utcnow
from stacks_contract.ports import Transform
from stacks_transform_dbt import DbtTransform
from stacks_transform_dbt.profiles import profile_env

from stacks_orch_airflow import tasks
from stacks_orch_airflow.binding import Binding

__all__ = ["DeclaredTables", "declared", "fresh_manifest", "is_dbt_transform", "render_dbt"]

RUN_ID_VAR = "stacks_run_id"
_SUFFIXES = ("", "_model_build", "_seed_build", "_snapshot_build", "_build", "_run", "_test")
_PRODUCER = "dbt_producer_watcher"
_ORIGINAL_RUNNER: dict[str, Any] = {}
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


def _pre_execute(binding: Binding, models: dict[str, str], context: Any) -> None:
    """Skip a model the run does not select; put the warehouse secret into the environment."""
    from airflow.sdk.exceptions import AirflowSkipException

    state = context["ti"].xcom_pull(task_ids=tasks.START)
    task_id = context["ti"].task_id
    if task_id.endswith(_PRODUCER):
        if not state["runs_transform"]:
            raise AirflowSkipException("no dbt node is selected in this run")
        # one ``dbt build`` of what the run selects (none: the whole project)
        context["task"].select = " ".join(state["transform_select"]) or None
        _use_parsed_manifest(binding, RunRequest.model_validate(state["request"]))
    model = _model_of(task_id, models)
    if model is not None and model not in state["models"]:
        raise AirflowSkipException(f"dbt model {model!r} is not selected in this run")
    if getattr(context["task"], "trigger_rule", None) == "all_done":
        _check_el_upstream(context)
    context["task"].stacks_started_at = utcnow()  # read by _collect in the same process
    os.environ.update(profile_env(binding.warehouse()))


def _use_parsed_manifest(binding: Binding, request: RunRequest) -> None:
    """Hand the producer's ``dbt build`` the manifest the transform parsed (kept in memory per
    process), as :meth:`DbtTransform.run` does: the run id is a CLI var, and dbt drops its
    partial-parse state whenever the vars change, so without this every build parses the whole
    project. Cosmos builds a ``dbtRunner`` per command through ``cosmos.dbt.runner.get_runner``;
    this swaps it for the task's duration (:func:`_post_execute` puts it back)."""
    import cosmos.dbt.runner as runner

    transform = binding.spec().transform
    warehouse = binding.warehouse()
    manifest = transform._manifest(warehouse, transform.invocation(warehouse, request))  # type: ignore[union-attr]

    def get_runner(callbacks: Any = None) -> Any:
        from dbt.cli.main import dbtRunner

        return dbtRunner(manifest=manifest, callbacks=list(callbacks or []))

    _ORIGINAL_RUNNER.setdefault("get_runner", runner.get_runner)
    runner.get_runner = get_runner


def _restore_runner() -> None:
    original = _ORIGINAL_RUNNER.pop("get_runner", None)
    if original is not None:
        import cosmos.dbt.runner as runner

        runner.get_runner = original


def _check_el_upstream(context: Any) -> None:
    """A group root runs after the producer whatever its state (so a model dbt built shows
    success when another failed), but not when an EL task it reads from failed."""
    ti, task = context["ti"], context["task"]
    els = sorted(t for t in task.upstream_task_ids if not t.endswith(_PRODUCER))
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=els, run_ids=[ti.run_id])
    failed = [t for t, s in states.get(ti.run_id, {}).items() if s in ("failed", "upstream_failed")]
    if failed:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"upstream task {failed[0]!r} failed; the model was not built")


def _post_execute(context: Any, result: Any = None) -> None:
    from stacks_transform_dbt.profiles import PASSWORD_ENV

    os.environ.pop(PASSWORD_ENV, None)
    _restore_runner()
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
    started = getattr(kwargs["context"].get("task"), "stacks_started_at", None)
    result = transform.result_from_run_results(run_results, _request(ti), started or utcnow())
    ti.xcom_push(key=tasks.TRANSFORM_KEY, value=result.model_dump(mode="json", by_alias=True))
    if not result.ok:
        ti.xcom_push(key=tasks.ERROR_KEY, value=result.failure_sentence(transform.name))


def render_dbt(
    spec: StackSpec, binding: Binding, upstream: dict[TableRef, Any], mode: str = "watcher"
) -> list[str]:
    """Add the transform's Cosmos task group to the current DAG; return its task ids.

    ``mode``: ``watcher`` (default) runs one ``dbt build`` in a producer task, a task per model
    and one per model's tests completing from its events; ``local`` runs ``dbt build`` per model
    (the model then its tests, one task and one dbt invocation each)."""
    from airflow.sdk import Asset
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    if mode not in ("watcher", "local"):
        raise ValueError(f"mode must be 'watcher' or 'local', not {mode!r}")
    watcher = mode == "watcher"

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
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER if watcher else ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH if watcher else TestBehavior.BUILD,
            emit_datasets=False,
            # a test reading two models (relationships) runs after both, as its own task
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={
            "vars": dbt_vars,
            "install_deps": False,
            "trigger_rule": "none_failed",
            "callback": functools.partial(_collect, transform),
            "pre_execute": functools.partial(_pre_execute, binding, models),
            "post_execute": _post_execute,
            "on_failure_callback": functools.partial(_on_failure, binding, transform.name),
        },
    )
    sources = _sources(manifest)
    children = group.children_tasks() if hasattr(group, "children_tasks") else _walk(group)
    _wire_producer(children, upstream)
    ids: list[str] = []
    for task in children:
        ids.append(task.task_id)
        model = _model_of(task.task_id, models)
        if model is None:
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


def _wire_producer(children: list[Any], upstream: dict[TableRef, Any]) -> None:
    """The watcher's producer runs after the EL tasks feeding the project and before every
    group root (which then runs whatever the build's state, see :func:`_check_el_upstream`);
    Cosmos's producer supports no retry (a second try skips), so it gets none."""
    producer = next((t for t in children if t.task_id.endswith(_PRODUCER)), None)
    if producer is None:
        return
    producer.retries = 0
    for el in sorted(set(upstream.values()), key=lambda t: t.task_id):
        el >> producer
    for task in children:
        if task is not producer and not task.upstream_task_ids:
            producer >> task
            task.trigger_rule = "all_done"


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
