"""Calling dbt in-process: where its state lives, the arguments of one invocation, and the
process-global state dbt keeps between invocations (flags, adapters, a DuckDB file lock)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.state import private_dir

if TYPE_CHECKING:
    from dbt.contracts.graph.manifest import Manifest

# dbt keeps process-global state (flags, adapters, event loggers): one invocation at a time.
_DBT_LOCK = threading.RLock()


@dataclass(frozen=True)
class DbtInvocation:
    """Everything needed to call dbt (CLI or ``dbtRunner``) exactly as :meth:`DbtTransform.run`
    does. ``env`` holds the secrets: pass it in the process environment, never write it down."""

    project_dir: Path
    profiles_dir: Path
    target: str
    env: dict[str, str] = field(repr=False, hash=False, compare=False)
    vars: dict[str, Any] = field(hash=False)
    target_path: Path
    profile: str = ""
    log_path: Path | None = None

    def args(self, command: str = "build", *extra: str) -> list[str]:
        """``[command, --project-dir ..., --profiles-dir ..., ..., *extra]`` for dbt's CLI."""
        out = [
            command,
            "--project-dir",
            str(self.project_dir),
            "--profiles-dir",
            str(self.profiles_dir),
            "--target",
            self.target,
            "--target-path",
            str(self.target_path),
            "--vars",
            json.dumps(self.vars, sort_keys=True),
        ]
        if self.profile:
            out += ["--profile", self.profile]
        if self.log_path is not None:
            out += ["--log-path", str(self.log_path)]
        return [*out, *extra]


def shared_state_root() -> Path:
    """``$STACKS_DBT_STATE_DIR``, else ``$TMPDIR/stacks-dbt-<uid>``: private to the user (dbt
    writes the profile's settings and its command line there), refused if another user owns it."""
    env = os.environ.get("STACKS_DBT_STATE_DIR")
    if env:
        return private_dir(Path(env).expanduser().absolute())
    return private_dir(Path(tempfile.gettempdir()) / f"stacks-dbt-{os.getuid()}")


def default_state_root(warehouse: Warehouse) -> Path:
    if isinstance(warehouse, DuckDBWarehouse) and not os.environ.get("STACKS_DBT_STATE_DIR"):
        # beside the warehouse file, in its .stacks area
        parent = warehouse.path.parent
        return (parent if parent.name == ".stacks" else parent / ".stacks") / "dbt"
    return shared_state_root()


@contextlib.contextmanager
def _environ(env: Mapping[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance in a class attribute between invocations, which
    holds the file lock; close it so other processes (EL steps, the CLI) can open the file."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - adapter always installed with this package
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            with contextlib.suppress(Exception):
                env.close()
        DuckDBConnectionManager._ENV = None


def invoke(
    inv: DbtInvocation,
    command: str,
    vars: Mapping[str, Any],
    extra: Sequence[str] = (),
    manifest: Manifest | None = None,
    callbacks: Sequence[Callable[[Any], None]] = (),
) -> Any:
    """``dbtRunner(...).invoke`` for ``inv``; returns dbt's ``dbtRunnerResult``."""
    from dbt.cli.main import dbtRunner

    args = [
        command,
        "--project-dir",
        str(inv.project_dir),
        "--profiles-dir",
        str(inv.profiles_dir),
        "--profile",
        inv.profile,
        "--target",
        inv.target,
        "--target-path",
        str(inv.target_path),
        "--log-path",
        str(inv.log_path),
        "--vars",
        json.dumps(dict(vars), sort_keys=True),
        # the console stays quiet; events reach the reporter, the file log keeps detail
        "--log-level",
        "none",
        "--no-use-colors",
        *extra,
    ]
    with _DBT_LOCK, _environ(inv.env):
        try:
            return dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(args)
        finally:
            release_duckdb()
