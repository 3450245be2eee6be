"""What an in-process run (:meth:`AirflowOrchestrator.run`, ``dag.test()``) does to keep
Airflow's fixed cost per run down, and Airflow's own logging out of a ``stacks run``; and
:func:`run_dbt_with_manifest`, which every Cosmos task uses (in-process or under a scheduler).

Nothing else here changes a DAG, a DAG file or a deployment: a scheduler, ``airflow dags test``
and a worker run the same DAG.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "dbt_extra_args",
    "filtered_airflow_logs",
    "newest_execution_api",
    "quiet_airflow",
    "run_dbt_with_manifest",
    "set_dbt_extra_args",
]

#: what every in-process dbt command gets on top of Cosmos's arguments (``--log-level none``
#: while Airflow's logging is quiet: dbt's console lines are the Reporter's job then)
_DBT_EXTRA_ARGS: list[tuple[str, ...]] = [()]


def set_dbt_extra_args(args: tuple[str, ...]) -> None:
    _DBT_EXTRA_ARGS[0] = args


def dbt_extra_args() -> tuple[str, ...]:
    return _DBT_EXTRA_ARGS[0]


#: loggers whose INFO lines are Airflow's, Cosmos's or the DB migration's bookkeeping
_LOGGERS = ("airflow", "cosmos", "alembic", "sqlalchemy", "httpx", "task", "py.warnings")


def newest_execution_api() -> None:
    """Serve ``dag.test()``'s in-process Task Execution API in the one version its client speaks.

    Every task of ``dag.test()`` talks to Airflow's Task Execution API, served in-process by a
    Cadwyn app that builds, at its first request, the routes of every API version it supports
    (ten in Airflow 3.3): 5-10 s of CPU once per process, before the first task starts. The
    in-process client only ever sends the newest version (``API_VERSION``), which is the head
    schema; the app is built for that version alone. Routes that exist only in older versions
    are dropped from the app's own router (the module's router is left as it is). Anything
    unexpected (another Airflow, a head version with changes, an app built already) leaves
    Airflow's default in place.
    """
    try:
        import airflow.api_fastapi.execution_api.versions as versions
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from airflow.sdk.execution_time.supervisor import in_process_api_server
        from cadwyn import HeadVersion, Version, VersionBundle
        from cadwyn.route_generation import _DELETED_ROUTE_TAG
    except ImportError:  # pragma: no cover - another Airflow or Cadwyn: keep Airflow's default
        return
    api = in_process_api_server()
    if getattr(api, "_app", None) is not None:
        return
    full = versions.bundle
    if not full.versions or full.versions[0].value != API_VERSION or full.head_version.changes:
        return
    versions.bundle = VersionBundle(HeadVersion(), Version(API_VERSION))
    try:
        app = api.app
    finally:
        versions.bundle = full
    router = app._latest_version_router
    router.routes = [r for r in router.routes if _DELETED_ROUTE_TAG not in getattr(r, "tags", ())]


def _noise(level: int, text: str) -> bool:
    # below a warning, or Cosmos and Airflow noting an integration nobody asked for
    return level < logging.WARNING or "openlineage" in text.lower()


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "msg": logging.INFO}


def _drop_noise(_logger: Any, method_name: str, event_dict: Any) -> Any:
    """A structlog processor (Airflow's own loggers render through structlog)."""
    import structlog

    level = _LEVELS.get(method_name, logging.WARNING)
    text = f"{event_dict.get('event', '')} {event_dict.get('positional_args', '')}"
    if _noise(level, text):
        raise structlog.DropEvent
    return event_dict


class _NoiseFilter(logging.Filter):
    """The same for stdlib records (Cosmos, alembic) on the root logger's handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _noise(record.levelno, f"{record.msg} {record.args}")


@contextlib.contextmanager
def quiet_airflow(enabled: bool = True) -> Iterator[None]:
    """Airflow, Cosmos and alembic log every migration check, DAG sync and task lifecycle step at
    INFO (about 190 lines a run); a ``stacks run`` shows the Reporter's lines instead. While
    this is open, those INFO lines are dropped; warnings and errors (a failing task's traceback)
    still print. Airflow renders through structlog, whose cached loggers share the configured
    processor list: a filter is put at its front and taken out again on exit."""
    if not enabled:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in ("", *_LOGGERS)}
    for name in levels:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with filtered_airflow_logs(_drop_noise, _NoiseFilter()):
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def filtered_airflow_logs(processor: Any, log_filter: logging.Filter) -> Iterator[None]:
    """For the block, ``processor`` first in Airflow's structlog chain (whose cached loggers
    share the configured list) and ``log_filter`` on the root logger's handlers (Cosmos, dbt's
    adapters and alembic log through the standard library)."""
    import airflow  # noqa: F401 - its import configures its logging: filter that configuration
    import structlog

    processors = structlog.get_config().get("processors")
    chain = processors if isinstance(processors, list) else []
    chain.insert(0, processor)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            chain.remove(processor)
        for handler in handlers:
            handler.removeFilter(log_filter)


def run_dbt_with_manifest(
    manifest: Any,
    extra_args: tuple[str, ...],
    task: Any,
    progress: Callable[[Any], None] | None = None,
) -> Callable[..., Any]:
    """A Cosmos operator's ``run_dbt_runner`` that hands dbt the manifest parsed already.

    Cosmos invokes ``dbtRunner`` per task, and dbt parses the project each time; the run-id var
    changes every run, and a changed var makes dbt drop its partial-parse state, so the first
    dbt task of every run re-parsed the whole project. An in-process run has the transform's
    parsed manifest in memory (parsed with the stack's stable vars, as a direct run uses it):
    dbt runs against it with the task's own vars (the run id included) and parses nothing.
    ``progress`` gets dbt's events too (the Reporter's line per finished node)."""

    def run(command: list[str], env: dict[str, str], cwd: str, **_: Any) -> Any:
        from cosmos.dbt.project import change_working_directory, environ
        from cosmos.dbt.runner import _cleanup_dbt_adapters
        from dbt.cli.main import dbtRunner

        callbacks = list(getattr(task, "_dbt_runner_callbacks", None) or [])
        if progress is not None:
            callbacks.append(progress)
        with change_working_directory(cwd), environ(env):
            try:
                return dbtRunner(manifest=manifest, callbacks=callbacks).invoke(
                    [*command[1:], *extra_args]
                )
            finally:
                _cleanup_dbt_adapters()

    return run
