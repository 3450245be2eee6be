"""A worker for an installed stack: ``python -m stacks_orch_temporal worker --stack NAME``.

The server is ``--address`` or ``$TEMPORAL_ADDRESS``; the warehouse comes, per run, from the
run's stack reference (its environment variable, ``STACKS_WAREHOUSE`` by default, holds the
password: set it in the worker's environment). Progress goes to stdout, one line per event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta

from stacks_orch_temporal.devserver import ADDRESS_ENV
from stacks_orch_temporal.orchestrator import QUIET_ENV, task_queue
from stacks_orch_temporal.ref import StackRef, StackResolver


def _print(step: str, message: str) -> None:
    print(f"[{step}] {message}", flush=True)


async def serve(address: str, stack: str, queue: str, sticky_timeout: float) -> None:
    from temporalio.client import Client

    from stacks_orch_temporal.bundle import TemporalBundle
    from stacks_orch_temporal.version import code_version

    client = await Client.connect(address)
    bundle = TemporalBundle(
        ref=StackRef(stack=stack), task_queue=queue, resolver=StackResolver(report=_print)
    )
    worker = bundle.worker(
        client, sticky_queue_schedule_to_start_timeout=timedelta(seconds=sticky_timeout)
    )
    _print("worker", f"polling {queue} on {address} as build {code_version(stack)}")
    await worker.run()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks_orch_temporal")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="run a worker for an installed stack")
    w.add_argument("--stack", required=True, help="the stack's entry-point name")
    w.add_argument("--address", default=os.environ.get(ADDRESS_ENV, "localhost:7233"))
    w.add_argument("--task-queue", help="default: stacks-<stack>")
    w.add_argument("--sticky-timeout", type=float, default=5.0, help="seconds (Temporal's default)")
    args = parser.parse_args(argv)
    for k, v in QUIET_ENV.items():
        os.environ.setdefault(k, v)
    queue = args.task_queue or task_queue(args.stack)
    try:
        asyncio.run(serve(args.address, args.stack, queue, args.sticky_timeout))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
