"""The ``stacks`` command line: list, run and check installed stacks.

Exit codes: 0 success; 1 a run failed (or ``check`` found differing fingerprints); 2 bad input or
configuration (unknown stack, malformed or unreachable warehouse URL). Errors are one sentence on
stderr; a :class:`~stacks_contract.errors.StacksError` never prints a traceback.

Only click, rich and the contract are imported here: ``stacks --help`` must stay fast and must not
import any tool. A stack's tools are imported when the stack is loaded or run.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import NoReturn

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from stacks_contract.console import ConsoleReporter, render_summary
from stacks_contract.errors import ConfigError, StacksError, WarehouseUnreachable
from stacks_contract.models import RunRecord, RunRequest, RunStatus
from stacks_contract.ports import Reporter, Stack
from stacks_contract.warehouse import Warehouse, parse_warehouse, redact

__all__ = ["main"]

EXIT_FAILED = 1
EXIT_CONFIG = 2

# Tools read these at import time; set them before any stack is loaded.
_QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def _out() -> Console:
    # Built per call: click's CliRunner swaps sys.stdout, and a module-level Console would keep
    # writing to the original stream.
    return Console(file=sys.stdout, highlight=False)


def _err() -> Console:
    return Console(file=sys.stderr, highlight=False)


def _fail(message: str, code: int) -> NoReturn:
    _err().print(Text.assemble(("Error: ", "bold red"), message), soft_wrap=True)
    raise SystemExit(code)


@contextmanager
def _errors(warehouse: Warehouse | None = None) -> Iterator[None]:
    """Turn exceptions into one masked sentence and an exit code."""
    try:
        yield
    except (ConfigError, WarehouseUnreachable) as exc:
        _fail(redact(str(exc), warehouse), EXIT_CONFIG)
    except StacksError as exc:
        _fail(redact(str(exc), warehouse), EXIT_FAILED)
    except Exception as exc:
        if os.environ.get("STACKS_TRACEBACK"):
            raise
        _fail(
            redact(f"unexpected {type(exc).__name__}: {exc}", warehouse)
            + " (set STACKS_TRACEBACK=1 to see the traceback)",
            EXIT_FAILED,
        )


def _prepare(name: str, url: str | None) -> tuple[Stack, Warehouse]:
    """Load the stack, parse the URL and prove the warehouse answers, before any work starts."""
    from stacks_contract.registry import entry_point, load_stack
    from stacks_contract.sql import connect

    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    # cheapest checks first (loading a stack may import heavy tools), and no warehouse file is
    # created for a stack name that does not exist
    with _errors():
        entry_point(name)
        warehouse = parse_warehouse(url, default_name=name)
    with _errors(warehouse), connect(warehouse):
        pass
    with _errors(warehouse):
        stack = load_stack(name)
    return stack, warehouse


@contextmanager
def _tool_output_to_stderr() -> Iterator[None]:
    """While tools run: their prints go to stderr (stdout keeps only the summary, so it can be
    piped), and library deprecation warnings, which a user cannot act on, are hidden unless
    Python was asked to show warnings (-W / PYTHONWARNINGS)."""
    with redirect_stdout(sys.stderr), warnings.catch_warnings():
        if not sys.warnoptions:
            warnings.simplefilter("ignore")
        yield


def _check_record(record: RunRecord, warehouse: Warehouse) -> None:
    if record.status != RunStatus.SUCCEEDED:
        reason = record.error or "no error message was recorded"
        _fail(
            redact(f"run {record.run_id} of {record.stack} failed: {reason}", warehouse),
            EXIT_FAILED,
        )


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 run failed or check found differences, 2 bad input/config.",
)
@click.version_option(package_name="stacks-contract", prog_name="stacks")
def main() -> None:
    """Run opinionated ELT stacks (extract-load, transform, orchestrate) against a warehouse.

    The warehouse defaults to a DuckDB file under ./.stacks/; pass --warehouse
    postgresql://user:password@host:port/database to use Postgres.
    """


@main.command("list")
def list_cmd() -> None:
    """List the installed stacks."""
    from stacks_contract.registry import available_stacks, describe

    stacks = available_stacks()
    out = _out()
    if not stacks:
        out.print("No stacks are installed (e.g. `uv sync --package stacks-dagster-dlt-dbt`).")
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("stack", no_wrap=True)
    table.add_column("description")
    for name, ep in stacks.items():
        table.add_row(Text(name), Text(describe(ep)))
    out.print(table)


_WAREHOUSE = click.option(
    "--warehouse",
    "-w",
    "url",
    metavar="URL",
    envvar="STACKS_WAREHOUSE",
    help="postgresql://... or duckdb:///path.duckdb (default: ./.stacks/NAME.duckdb; "
    "env STACKS_WAREHOUSE).",
)


def _run_once(
    stack: Stack,
    warehouse: Warehouse,
    request: RunRequest,
    reporter: Reporter,
    *,
    in_session: bool,
) -> RunRecord:
    if in_session:
        # `check` keeps one session open across runs (one demo source, advancing nothing), so
        # it calls the orchestrator directly instead of Stack.run, which opens its own session.
        return stack.orchestrator().run(stack.spec(warehouse), request, warehouse, reporter)
    return stack.run(warehouse, request, reporter)


@main.command("run")
@click.argument("name")
@_WAREHOUSE
@click.option(
    "--select",
    "-s",
    multiple=True,
    help="Run only what this selects (repeatable): an EL step, a table or a model; X+ adds "
    "what is downstream, +X what is upstream, tag:T every model tagged T.",
)
@click.option("--exclude", "-x", multiple=True, help="Leave out what this selects (same grammar).")
@click.option("--full-refresh", is_flag=True, help="Rebuild everything from scratch.")
def run_cmd(
    name: str,
    url: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    full_refresh: bool,
) -> None:
    """Run the stack NAME once and print a summary."""
    from stacks_contract.selection import resolve

    stack, warehouse = _prepare(name, url)
    err = _err()
    reporter = ConsoleReporter(err)
    with _errors(warehouse):
        request = RunRequest(stack=name, select=select, exclude=exclude, full_refresh=full_refresh)
        if select or exclude:  # a bad selector is bad input: exit 2 before anything runs
            with _tool_output_to_stderr():
                resolve(stack.spec(warehouse), select, exclude)
    err.print(
        Text(f"Running {name} (run {request.run_id}) into {warehouse.redacted_url()}"),
        soft_wrap=True,
    )
    with _errors(warehouse), reporter.spinning(f"Running {name}"), _tool_output_to_stderr():
        record = _run_once(stack, warehouse, request, reporter, in_session=False)
    with _errors(warehouse):
        hints = stack.hints(warehouse)
    render_summary(_out(), record, warehouse.redacted_url(), hints)
    _check_record(record, warehouse)


@main.command("check")
@click.argument("name")
@_WAREHOUSE
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(min=2),
    help="How many times to run the stack.",
)
def check_cmd(name: str, url: str | None, runs: int) -> None:
    """Run NAME several times; exit 1 if the warehouse then differs from after the first run.

    Compares order-independent content fingerprints of every table (load-metadata columns such as
    run ids and load timestamps ignored): an idempotent stack leaves identical data.
    """
    from stacks_contract.fingerprint import diff, fingerprint

    stack, warehouse = _prepare(name, url)
    err = _err()
    reporter = ConsoleReporter(err)
    with _errors(warehouse), _tool_output_to_stderr(), stack.session(warehouse):
        metadata = stack.spec(warehouse).metadata_columns()
        for i in range(1, runs + 1):
            request = RunRequest(stack=name)
            err.print(Text(f"Run {i}/{runs} of {name} (run {request.run_id})"), soft_wrap=True)
            with reporter.spinning(f"Run {i}/{runs} of {name}"):
                record = _run_once(stack, warehouse, request, reporter, in_session=True)
            _check_record(record, warehouse)
            if i == 1:
                first = fingerprint(warehouse, metadata=metadata)
        last = fingerprint(warehouse, metadata=metadata)
    out = _out()
    lines = diff(first, last)
    if lines:
        out.print(
            Text(
                f"{name} is not idempotent: after {runs} runs {len(lines)} table(s) differ "
                "from after 1 run:",
                style="bold red",
            ),
            soft_wrap=True,
        )
        for line in lines:
            out.print(Text(f"  {line}"), soft_wrap=True)
        raise SystemExit(EXIT_FAILED)
    total = sum(fp.rows for fp in last.values())
    out.print(
        Text(
            f"{name} is idempotent: {len(last)} table(s), {total:,} rows, identical after 1 and "
            f"{runs} runs ({warehouse.redacted_url()}).",
            style="green",
        ),
        soft_wrap=True,
    )


if __name__ == "__main__":  # pragma: no cover
    main()
