"""``stacks check``: run a stack several times, then rebuild it from scratch, and say what that
proved (see :mod:`stacks_core.check`)."""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text
from stacks_contract.models import RunRecord, RunRequest, RunStatus
from stacks_contract.warehouse import Warehouse
from stacks_core.check import Proof

from stacks_cli.common import (
    EXIT_FAILED,
    JSON,
    WAIT,
    WAREHOUSE,
    check_record,
    emit_json,
    err,
    errors,
    interruptible,
    out,
    prepare,
    progress,
    reporter,
    run_once,
    spinning,
    stack_argument,
    tool_output,
)
from stacks_cli.transform_options import TARGET_OPTIONS

__all__ = ["check_cmd"]

#: how each proof is named in the text output (the JSON uses the names)
LABELS = {"idempotent": "idempotent", "redelivery": "re-delivery", "full_rebuild": "full rebuild"}


@click.command("check")
@stack_argument()
@WAREHOUSE
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(min=2),
    help="How many times to run the stack.",
)
@WAIT
@TARGET_OPTIONS
@JSON
def check_cmd(name: str, url: str | None, runs: int, wait: bool, as_json: bool) -> None:
    """Run NAME several times, then rebuild it from scratch; exit 1 on any difference.

    Proves, comparing order-independent content fingerprints of the tables (load-metadata columns
    such as run ids and load timestamps ignored): idempotent (after N runs the warehouse is as
    after 1); re-delivery (an EL full refresh into a scratch warehouse gives the same raw
    tables); full rebuild (rebuilding every model from scratch gives the incrementally
    maintained model tables). The scratch warehouse is an empty DuckDB file beside the
    warehouse file, or a scratch database on the Postgres server; it is removed afterwards.
    --json prints {"stack", "idempotent", "proved": [names], "proofs": [{"name", "proved",
    "summary", "diff"}], "runs": [run records], "diff": [lines], "tables", "rows"}.
    """
    from stacks_core.check import rebuild_proofs
    from stacks_core.fingerprint import diff, fingerprint
    from stacks_core.runlock import run_lock

    stack, warehouse = prepare(name, url, wait=wait)
    name = stack.name  # a reference (`file.py:attr`) runs under its stack's own name
    report = reporter(err())
    records: list[RunRecord] = []
    lock = run_lock(warehouse, name, RunRequest(stack=name), wait=wait)
    current: list[str] = []
    stoppable = interruptible(warehouse, lambda: current[-1] if current else None)
    proofs: list[Proof] = []
    with errors(warehouse), tool_output(), stoppable, lock, stack.session(warehouse):
        metadata = stack.spec(warehouse).metadata_columns()
        for i in range(1, runs + 1):
            request = RunRequest(stack=name)
            current.append(request.run_id)
            progress(f"Run {i}/{runs} of {name} (run {request.run_id})")
            with spinning(report, f"Run {i}/{runs} of {name}"):
                record = run_once(stack, warehouse, request, report, in_session=True)
            records.append(record)
            if as_json and record.status != RunStatus.SUCCEEDED:
                emit_json(_check_json(name, records, None, {}, []), warehouse)
            check_record(record, warehouse)
            if i == 1:
                first = fingerprint(warehouse, metadata=metadata)
        last = fingerprint(warehouse, metadata=metadata)
        lines = diff(first, last)
        proofs.append(Proof("idempotent", not lines, _idempotence(runs, lines), tuple(lines)))
        if not lines:

            def scratch_run(scratch: Warehouse, request: RunRequest) -> RunRecord:
                progress(f"Rebuilding {name} from scratch into {scratch.redacted_url()}")
                with spinning(report, f"Rebuilding {name} from scratch"):
                    return stack.orchestrator().run(stack.spec(scratch), request, scratch, report)

            proofs += rebuild_proofs(stack.spec, warehouse, scratch_run, metadata=metadata)
    failed = any(p.proved is False for p in proofs)
    if as_json:
        emit_json(_check_json(name, records, lines, last, proofs), warehouse)
        raise SystemExit(EXIT_FAILED if failed else 0)
    _print_proofs(name, runs, lines, last, proofs, warehouse)
    if failed:
        raise SystemExit(EXIT_FAILED)


def _idempotence(runs: int, lines: list[str]) -> str:
    if lines:
        return f"after {runs} runs {len(lines)} table(s) differ from after 1 run"
    return f"identical after 1 and {runs} runs"


def _print_proofs(
    name: str,
    runs: int,
    lines: list[str],
    last: dict[str, Any],
    proofs: list[Proof],
    warehouse: Warehouse,
) -> None:
    console = out()
    if lines:
        console.print(
            Text(
                f"{name} is not idempotent: after {runs} runs {len(lines)} table(s) differ "
                "from after 1 run:",
                style="bold red",
            ),
            soft_wrap=True,
        )
        for line in lines:
            console.print(Text(f"  {line}"), soft_wrap=True)
        return
    total = sum(fp.rows for fp in last.values())
    console.print(
        Text(
            f"{name} is idempotent: {len(last)} table(s), {total:,} rows, identical after 1 and "
            f"{runs} runs ({warehouse.redacted_url()}).",
            style="green",
        ),
        soft_wrap=True,
    )
    marks = {True: ("proved", "green"), False: ("FAILED", "bold red"), None: ("not proved", "")}
    for proof in proofs:
        word, style = marks[proof.proved]
        label = LABELS.get(proof.name, proof.name)
        console.print(Text(f"  {word:<10} {label}: {proof.summary}", style=style), soft_wrap=True)
        for line in proof.diff if proof.name != "idempotent" else ():
            console.print(Text(f"      {line}"), soft_wrap=True)


def _check_json(
    name: str,
    records: list[RunRecord],
    lines: list[str] | None,
    last: dict[str, Any],
    proofs: list[Proof],
) -> dict[str, Any]:
    return {
        "stack": name,
        "idempotent": None if lines is None else not lines,
        "proved": [p.name for p in proofs if p.proved],
        "proofs": [p.to_json() for p in proofs],
        "runs": [r.model_dump(mode="json") for r in records],
        "diff": lines or [],
        "tables": len(last),
        "rows": sum(fp.rows for fp in last.values()),
    }
