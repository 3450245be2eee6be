"""Where Airflow keeps its state for stacks, and getting it ready once.

Airflow reads ``AIRFLOW_HOME`` (and creates ``airflow.cfg`` there) the first time anything imports
``airflow``; dlt imports Airflow whenever it is installed. :func:`configure` must therefore run
before any such import, which is why importing :mod:`stacks_orch_airflow` calls it (defaults only:
an ``AIRFLOW_HOME`` the user set wins). The default home is ``./.stacks/airflow``: a SQLite
metadata DB, a ``dags/`` folder, no ``~/airflow``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["HOME_ENV", "airflow_home", "configure", "ensure_db", "tune_sqlite"]

#: overrides the default home (``./.stacks/airflow``) without touching ``AIRFLOW_HOME``
HOME_ENV = "STACKS_AIRFLOW_HOME"

_MIGRATED = ".stacks-migrated"
_SYNCED = ".stacks-bundles"
_ready: set[str] = set()


def airflow_home() -> Path:
    """``$AIRFLOW_HOME`` if set, else ``$STACKS_AIRFLOW_HOME``, else ``./.stacks/airflow``."""
    raw = os.environ.get("AIRFLOW_HOME") or os.environ.get(HOME_ENV)
    return Path(raw).expanduser().absolute() if raw else Path.cwd() / ".stacks" / "airflow"


def configure(home: Path | None = None) -> Path:
    """Point Airflow at ``home`` (default :func:`airflow_home`) unless it is configured already.

    Sets, as defaults only: ``AIRFLOW_HOME``, the dags folder (``home/dags``), a SQLite metadata
    DB in ``home``, no example DAGs, and every usage-data switch off."""
    home = (home or airflow_home()).absolute()
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") not in (None, str(home)):
        return Path(os.environ["AIRFLOW_HOME"])  # Airflow already read its home: keep it
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        "SCARF_ANALYTICS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    return Path(os.environ["AIRFLOW_HOME"])


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created with its folder) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_db() -> Path:
    """Migrate the metadata DB once (a marker file records the Airflow version it was migrated
    for; concurrent processes wait on a file lock) and register the dag bundles once per
    bundle configuration (another marker)."""
    home = configure()
    (home / "dags").mkdir(parents=True, exist_ok=True)
    if str(home) in _ready:
        return home
    from airflow import __version__ as version
    from airflow.configuration import conf

    marker = home / _MIGRATED
    # the bundles a sync registered: the same configuration needs no second sync
    bundles = "\n".join(
        [
            version,
            str(conf.get("dag_processor", "dag_bundle_config_list", fallback="")),
            str(conf.get("core", "dags_folder", fallback="")),
        ]
    )
    synced = home / _SYNCED
    with locked(home / ".migrate.lock"):
        if not marker.exists() or marker.read_text() != version:
            from airflow.utils.db import initdb

            initdb()
            marker.write_text(version)
            synced.unlink(missing_ok=True)
        if not synced.exists() or synced.read_text() != bundles:
            from airflow.dag_processing.bundles.manager import DagBundlesManager

            DagBundlesManager().sync_bundles_to_db()
            synced.write_text(bundles)
    _ready.add(str(home))
    return home


_tuned: set[int] = set()


def _pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.close()


def tune_sqlite() -> None:
    """For an in-process run on a SQLite metadata DB: write-ahead log and no ``fsync`` per
    commit (a ``dag.test()`` task commits a dozen times; each fsync is a disk flush). A killed
    process loses nothing (the OS holds the writes); only a power loss could cost the last
    commits of this local DB. WAL stays set in the file, which suits a local
    ``airflow standalone`` on the same DB too; other databases (a real deployment's) are left
    as they are, and so is every other process's connection setup."""
    from airflow import settings
    from sqlalchemy import event

    engine = settings.engine
    if engine is None or engine.url.get_backend_name() != "sqlite" or id(engine) in _tuned:
        return
    event.listen(engine, "connect", _pragmas)
    engine.dispose()  # pooled connections reopen with the pragmas
    _tuned.add(id(engine))
