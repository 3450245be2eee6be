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
    EXIT_CONFIG,
    EXIT_FAILED,
    JSON,
    WAIT,
    WAREHOUSE,
    check_record,
    emit_json,
    err,
    errors,
    fail,
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
@click.option(
    "--advance",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Then move the stack's source on N times (a stack whose source can move, such as the "
    "demo shop), running the stack after each: new data through the incremental models.",
)
@WAIT
@TARGET_OPTIONS
@JSON
def check_cmd(
    name: str, url: str | None, runs: int, advance: int, wait: bool, as_json: bool
) -> None:
    """Run NAME several times, then rebuild it from scratch; exit 1 on any difference.

    Proves, comparing order-independent content fingerprints of the tables (load-metadata columns
    such as run ids and load timestamps ignored): idempotent (after N runs the warehouse is as
    after 1); re-delivery (an EL full refresh into a scratch warehouse gives the same raw
    tables); full rebuild (rebuilding every model from scratch gives the incrementally
    maintained model tables; proved only once new source data reached an incremental model
    through its incremental path: --advance N makes it so on a stack whose source can move).
    The scratch warehouse is an empty DuckDB file beside the warehouse file, or a scratch
    database on the Postgres server; it is removed afterwards. Every proof is printed as
    proved, FAILED or not proved (with the reason).
    --json prints {"stack", "idempotent", "proved": [names], "proofs": [{"name", "proved",
    "summary", "diff"}], "runs": [run records], "diff": [lines], "tables", "rows"}.
    """
    from stacks_core.check import rebuild_proofs, unproved
    from stacks_core.fingerprint import diff, fingerprint
    from stacks_core.incremental import IncrementalWatch
    from stacks_core.runlock import guarded, run_lock
    from stacks_core.runner import finish_lost

    stack, warehouse = prepare(name, url, wait=wait)
    name = stack.name  # a reference (`file.py:attr`) runs under its stack's own name
    if advance and not stack.advances_source:
        fail(
            f"--advance needs a stack whose source can move; {name} runs on a live source "
            "(check it again after the source has changed instead).",
            EXIT_CONFIG,
        )
    report = reporter(err())
    records: list[RunRecord] = []
    requests = [RunRequest(stack=name) for _ in range(runs + advance)]
    current: list[str] = []
    stoppable = interruptible(warehouse, lambda: current[-1] if current else None)
    proofs: list[Proof] = []
    lines: list[str] | None = None
    last: dict[str, Any] = {}
    total = runs + advance

    def once(i: int) -> RunRecord:
        request = requests[i - 1]
        current.append(request.run_id)
        lease.holder(request.run_id)
        progress(f"Run {i}/{total} of {name} (run {request.run_id})")
        with spinning(report, f"Run {i}/{total} of {name}"):
            record = run_once(stack, warehouse, request, guarded(report, lease), in_session=True)
        record = finish_lost(record, lease, warehouse)
        records.append(record)
        return record

    lock = run_lock(warehouse, name, requests[0], wait=wait, finder=f"`stacks check` of {name}")
    with errors(warehouse), tool_output(), stoppable, lock as lease, stack.session(warehouse):
        spec = stack.spec(warehouse)
        metadata = spec.metadata_columns()
        watch = IncrementalWatch(spec, warehouse, metadata)
        for i in range(1, total + 1):
            if i > runs:
                progress(f"Moving the source of {name} on ({i - runs}/{advance})")
                stack.advance_source(warehouse, 1)
            record = once(i)
            if record.status != RunStatus.SUCCEEDED:
                proofs = _stopped(i, total, record, proofs)
                break
            watch.after(record)
            if i == 1:
                first = fingerprint(warehouse, metadata=metadata)
            if i == runs:
                last = fingerprint(warehouse, metadata=metadata)
                lines = diff(first, last)
                proofs.append(
                    Proof("idempotent", not lines, _idempotence(runs, lines), tuple(lines))
                )
                if lines:
                    proofs += unproved(
                        "not tried: the stack is not idempotent, so there is no stable state "
                        "to rebuild"
                    )
                    break
        else:

            def scratch_run(scratch: Warehouse, request: RunRequest) -> RunRecord:
                progress(f"Rebuilding {name} from scratch into {scratch.redacted_url()}")
                with spinning(report, f"Rebuilding {name} from scratch"):
                    return stack.orchestrator().run(stack.spec(scratch), request, scratch, report)

            if advance:
                hint = f"the source moved {advance} time(s), yet no changed row reached one"
            elif stack.advances_source:
                hint = (
                    f"run `uv run stacks check {name} --advance 3` to move the source between runs"
                )
            else:
                hint = "check again once the source has changed"
            proofs += rebuild_proofs(
                stack.spec, warehouse, scratch_run, metadata=metadata, watch=watch, hint=hint
            )
    failed = any(p.proved is False for p in proofs) or (
        bool(records) and records[-1].status != RunStatus.SUCCEEDED
    )
    if as_json:
        emit_json(_check_json(name, records, lines, last, proofs), warehouse)
    else:
        _print_proofs(name, runs, lines, last, proofs, warehouse)
    if records and records[-1].status != RunStatus.SUCCEEDED:
        check_record(records[-1], warehouse)
    if failed:
        raise SystemExit(EXIT_FAILED)


def _stopped(i: int, total: int, record: RunRecord, proofs: list[Proof]) -> list[Proof]:
    """The proofs still open when run ``i`` failed: not proved, naming the run."""
    why = f"run {i}/{total} ({record.run_id}) failed, so check stopped"
    done = {p.name for p in proofs}
    return proofs + [
        Proof(n, None, why) for n in ("idempotent", "redelivery", "full_rebuild") if n not in done
    ]


def _idempotence(runs: int, lines: list[str]) -> str:
    if lines:
        return f"after {runs} runs {len(lines)} table(s) differ from after 1 run"
    return f"identical after 1 and {runs} runs"


def _print_proofs(
    name: str,
    runs: int,
    lines: list[str] | None,
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
    elif lines is not None:
        total = sum(fp.rows for fp in last.values())
        console.print(
            Text(
                f"{name} is idempotent: {len(last)} table(s), {total:,} rows, identical after 1 "
                f"and {runs} runs ({warehouse.redacted_url()}).",
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
