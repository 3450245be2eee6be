"""Run one step, transform or stack in a fresh interpreter, so a test can SIGKILL it mid-run.

    python -m stacks_testing.runner el --factory MOD:CALLABLE --run-id RID
    python -m stacks_testing.runner transform --factory MOD:CALLABLE --run-id RID
    python -m stacks_testing.runner stack --orchestrator MOD:CALLABLE \\
        --stack MOD:CALLABLE --run-id RID

The warehouse comes as JSON in ``$STACKS_RUNNER_WAREHOUSE`` (never argv: it holds the password,
and argv is visible to every user in ``ps``). A factory is ``module:callable`` or
``/path/to/file.py:callable`` (test modules are not importable by name under importlib mode);
it is called with no arguments. The runner prints ``READY`` just before the run starts and
``DONE <json>`` after it, both flushed, which is what :func:`run_and_kill` waits for.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from stacks_contract.models import RunRequest
from stacks_contract.warehouse import Warehouse, warehouse_from_dict

from stacks_testing import telemetry_off

__all__ = [
    "ENV_WAREHOUSE",
    "SubprocessRun",
    "load_factory",
    "run_and_kill",
    "runner_command",
    "warehouse_from_env",
    "warehouse_to_env",
]

ENV_WAREHOUSE = "STACKS_RUNNER_WAREHOUSE"
READY = "READY"
DONE = "DONE"


def warehouse_to_env(warehouse: Warehouse) -> dict[str, str]:
    """``{ENV_WAREHOUSE: json}`` with secrets in clear: for a child process's environment only."""
    data = warehouse.model_dump(mode="json", by_alias=True)
    for key, value in warehouse:
        if isinstance(value, SecretStr):
            data[key] = value.get_secret_value()
    return {ENV_WAREHOUSE: json.dumps(data)}


def warehouse_from_env(env: Mapping[str, str] | None = None) -> Warehouse:
    env = os.environ if env is None else env
    raw = env.get(ENV_WAREHOUSE)
    if not raw:
        raise SystemExit(f"{ENV_WAREHOUSE} is not set: the runner needs the warehouse as JSON.")
    return warehouse_from_dict(json.loads(raw))


def load_factory(ref: str) -> Callable[[], Any]:
    """``module:callable`` or ``/path/file.py:callable`` -> the callable."""
    from stacks_core.registry import load_attribute

    factory: Callable[[], Any] = load_attribute(ref)
    return factory


def runner_command(kind: str, run_id: str, **factories: str) -> list[str]:
    """argv for the runner: ``kind`` is el/transform/stack; factories as keyword options."""
    cmd = [sys.executable, "-m", "stacks_testing.runner", kind, "--run-id", run_id]
    for option, ref in factories.items():
        cmd += [f"--{option}", ref]
    return cmd


@dataclass(frozen=True)
class SubprocessRun:
    """What happened to one runner process."""

    killed: bool  # SIGKILLed by us before it exited
    returncode: int | None
    ready_after: float | None  # seconds from start to READY (None: never got there)
    run_seconds: float | None  # READY -> exit (uninterrupted) or READY -> kill
    output: str

    @property
    def finished(self) -> bool:
        return not self.killed and self.returncode == 0


def run_and_kill(
    cmd: Sequence[str],
    env: Mapping[str, str],
    kill_after: float | None,
    *,
    log: Path,
    timeout: float = 600.0,
) -> SubprocessRun:
    """Start ``cmd``; ``kill_after`` seconds after it prints READY, SIGKILL its process group.

    ``kill_after=None`` lets it finish. Output goes to ``log`` (a file, so a chatty child never
    blocks on a full pipe). The whole group is killed, so worker processes a tool forked die too.
    """
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ready_at: float | None = None
    killed = False
    try:
        while True:
            now = time.monotonic()
            if now - start > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise TimeoutError(f"{' '.join(cmd)} ran over {timeout}s; log: {log}")
            if ready_at is None and READY.encode() in log.read_bytes():
                ready_at = time.monotonic()
            if proc.poll() is not None:
                break
            if kill_after is not None and ready_at is not None and now - ready_at >= kill_after:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                killed = True
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:  # an exception above must not leave an orphan writing
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    end = time.monotonic()
    if ready_at is None and READY.encode() in log.read_bytes():
        ready_at = end  # READY and exit in the same poll interval
    return SubprocessRun(
        killed=killed,
        returncode=proc.returncode,
        ready_after=None if ready_at is None else ready_at - start,
        run_seconds=None if ready_at is None else end - ready_at,
        output=log.read_text(errors="replace"),
    )


def _summary(result: Any) -> str:
    try:
        return result.model_dump_json()
    except AttributeError:
        return json.dumps(str(result))


def _preload_driver(warehouse: Warehouse) -> None:
    """Import the warehouse's driver before READY: otherwise most of a short run is the import,
    and the random kill points would land there instead of in the step's work."""
    with contextlib.suppress(ImportError):
        importlib.import_module("duckdb" if warehouse.kind == "duckdb" else "psycopg")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks_testing.runner")
    parser.add_argument("kind", choices=["el", "transform", "stack"])
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--stack-name", default="conformance")
    parser.add_argument("--factory", help="el/transform: module:callable returning the step")
    parser.add_argument("--orchestrator", help="stack: module:callable returning an Orchestrator")
    parser.add_argument("--stack", help="stack: module:callable returning a StackSpec")
    args = parser.parse_args(argv)
    telemetry_off()  # the tools run here, not under pytest
    warehouse = warehouse_from_env()
    _preload_driver(warehouse)
    if args.kind == "stack":
        if not (args.orchestrator and args.stack):
            parser.error("stack needs --orchestrator and --stack")
        orchestrator = load_factory(args.orchestrator)()
        spec = load_factory(args.stack)()
        request = RunRequest(run_id=args.run_id, stack=spec.name)
        print(READY, flush=True)
        result: Any = orchestrator.run(spec, request, warehouse)
    else:
        if not args.factory:
            parser.error(f"{args.kind} needs --factory")
        step = load_factory(args.factory)()
        request = RunRequest(run_id=args.run_id, stack=args.stack_name)
        print(READY, flush=True)
        result = step.run(request, warehouse)
    print(f"{DONE} {_summary(result)}", flush=True)
    status = getattr(result, "status", None)
    return 1 if status is not None and str(status) == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
