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


#: dbt commands that build (or compile) nodes: ``--defer`` applies to them
_DEFERRING = frozenset({"build", "run", "test", "seed", "snapshot", "compile", "show"})


@dataclass(frozen=True)
class DbtInvocation:
    """Everything needed to call dbt (CLI or ``dbtRunner``) exactly as :meth:`DbtTransform.run`
    does. ``env`` holds the secrets: pass it in the process environment, never write it down.
    ``project_dir`` is the folder dbt is pointed at: the project, or its view in the state folder
    when the project has packages (:mod:`stacks_transform_dbt.packages`)."""

    project_dir: Path
    profiles_dir: Path
    target: str
    env: dict[str, str] = field(repr=False, hash=False, compare=False)
    vars: dict[str, Any] = field(hash=False)
    target_path: Path
    profile: str = ""
    log_path: Path | None = None
    #: ``--threads`` (``None``: the profile's)
    threads: int | None = None
    #: ``--state``: the artifacts of the run to compare with (``state:modified``) or defer to
    state: Path | None = None
    #: ``--defer``: unselected parents are read from ``state``'s relations
    defer: bool = False

    def options(self, command: str) -> list[str]:
        """The flags every command takes (``deps`` takes no profile, target or target path)."""
        out = ["--project-dir", str(self.project_dir)]
        if command != "deps":
            out += ["--profiles-dir", str(self.profiles_dir), "--target", self.target]
            out += ["--target-path", str(self.target_path)]
            if self.profile:
                out += ["--profile", self.profile]
            if self.threads is not None and command not in ("ls", "list", "docs serve"):
                out += ["--threads", str(self.threads)]
            if self.state is not None:
                out += ["--state", str(self.state)]
            if self.defer and command in _DEFERRING:
                out.append("--defer")
        if self.log_path is not None:
            out += ["--log-path", str(self.log_path)]
        return out

    def args(self, command: str = "build", *extra: str) -> list[str]:
        """``[command, --project-dir ..., --profiles-dir ..., ..., *extra]`` for dbt's CLI."""
        vars_ = ["--vars", json.dumps(self.vars, sort_keys=True)]
        return [*command.split(), *self.options(command), *vars_, *extra]


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


def private_log(folder: Path) -> Path:
    """``folder/dbt.log``, created readable by its owner only before dbt appends to it: dbt logs
    compiled SQL and its command line."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dbt.log"
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


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
        *command.split(),  # "docs generate"
        *inv.options(command),
        "--vars",
        json.dumps(dict(vars), sort_keys=True),
        # the console stays quiet (events reach the reporter); dbt.log keeps dbt's detail
        "--log-level",
        "none",
        "--log-level-file",
        "debug",
        "--no-use-colors",
        *extra,
    ]
    if inv.log_path is not None:
        private_log(inv.log_path)
    with _DBT_LOCK, _environ(inv.env):
        from dbt.deprecations import reset_deprecations

        # dbt warns of each deprecation once per process: once per invocation here, as a
        # `dbt` command would
        reset_deprecations()
        try:
            return dbtRunner(manifest=manifest, callbacks=list(callbacks)).invoke(args)
        finally:
            release_duckdb()
