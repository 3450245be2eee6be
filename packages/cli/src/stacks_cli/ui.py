"""``stacks ui NAME``: the stack's demo source (its session) and its orchestrator's web UI, on
the same warehouse, with the orchestrator's state under ``./.stacks/<orchestrator>``.

The contract imports no orchestrator: the command comes from
:meth:`~stacks_contract.ports.Orchestrator.ui_command`. The UI runs in a process group of its
own; Ctrl-C (SIGINT) or SIGTERM stops that whole group, then the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

import click
from stacks_contract.models import StackRef
from stacks_contract.ports import Stack, UiCommand
from stacks_contract.warehouse import DEFAULT_DUCKDB_DIR, Warehouse

from stacks_cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    WAREHOUSE,
    errors,
    fail,
    prepare,
    progress,
    stack_argument,
)

__all__ = ["ui_cmd"]

#: how long the UI gets to shut down after SIGINT before its group is killed
STOP_SECONDS = 20.0


class _Stop(BaseException):
    """Raised in the main thread by the SIGINT / SIGTERM handler (a BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way swallows it)."""


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`_Stop`. A handler (unlike an inherited SIG_IGN, as in
    a background job) is reset by exec, so the UI's processes get SIGINT's default as well."""

    def handler(signum: int, frame: FrameType | None) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the stop short
            signal.signal(sig, signal.SIG_IGN)
        raise _Stop

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to the UI's process group, then SIGKILL to whatever is left of it."""
    for sig, wait in ((signal.SIGINT, STOP_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; children it left behind in the group still get this signal
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if sig == signal.SIGINT else sig)
        return


@click.command("ui")
@stack_argument()
@WAREHOUSE
@click.option("--port", "-p", default=3000, show_default=True, type=click.IntRange(1, 65535))
def ui_cmd(name: str, url: str | None, port: int) -> None:
    """Open the orchestrator's web UI for NAME on 127.0.0.1:PORT, with the stack's demo source
    (if it has one) and the same warehouse as `stacks run`. Ctrl-C stops all of it.

    The UI's state lives in ./.stacks/<orchestrator>/ (telemetry off), the instance CLI runs
    record into as well, so they show up in the UI.
    """
    stack, warehouse = prepare(name, url)
    with errors(warehouse):
        orchestrator = stack.orchestrator()
        home = (Path(DEFAULT_DUCKDB_DIR) / orchestrator.name).absolute()
        ref = StackRef(stack=name)
        command = orchestrator.ui_command(ref, home=home, port=port)
    if command is None:
        fail(f"The {orchestrator.name} orchestrator of {name} has no UI.", EXIT_CONFIG)
    # the UI reads the warehouse as `stacks run` does: the URL given (or STACKS_WAREHOUSE), else
    # the default DuckDB file, by its absolute path
    env_url = url or warehouse.redacted_url()
    with errors(warehouse), _signals_stop():
        try:
            code = _serve(stack, warehouse, command, env_url, ref.warehouse_env, home)
        except (KeyboardInterrupt, _Stop):  # stopped before the UI started
            return
    if code is None:  # stopped by the user
        return
    if code != 0:
        fail(f"The {orchestrator.name} UI exited with code {code}.", EXIT_FAILED)
    sys.exit(0)


def _serve(
    stack: Stack, warehouse: Warehouse, command: UiCommand, url: str, url_env: str, home: Path
) -> int | None:
    """Run the UI inside the stack's session; its exit code, or None when stopped by a signal."""
    with stack.session(warehouse):
        # after the session started: a demo source puts its URL in the environment
        env = {**os.environ, **command.env, url_env: url}
        proc = subprocess.Popen(command.argv, env=env, start_new_session=True)
        progress(
            f"{stack.orchestrator().name} UI for {stack.name} on {command.url} "
            f"(warehouse {warehouse.redacted_url()}, state in {home}); Ctrl-C stops it"
        )
        try:
            return proc.wait()
        except (KeyboardInterrupt, _Stop):
            progress("Stopping the UI ...")
            _stop_group(proc)
            return None
        finally:
            if proc.poll() is None:
                _stop_group(proc)
