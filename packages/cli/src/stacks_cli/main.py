"""The ``stacks`` command line: list, run, check, plan, runs, ui, init and clean.

Exit codes: 0 success; 1 a run failed (or ``check`` found differing fingerprints); 2 bad input or
configuration (unknown stack or selector, malformed or unreachable warehouse URL). Errors are one
sentence on stderr; a :class:`~stacks_contract.errors.StacksError` never prints a traceback.
``--json`` prints one JSON document on stdout and everything else on stderr.

Only click, rich and the contract are imported here: ``stacks --help`` must stay fast and must not
import any tool. A stack's tools are imported when the stack is loaded or run. Shell completion
(stack names included): ``eval "$(_STACKS_COMPLETE=bash_source stacks)"``.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import click
from rich.table import Table
from rich.text import Text
from stacks_contract.models import RunRequest
from stacks_contract.warehouse import mask_secrets

from stacks_cli.backfill import BACKFILL, backfill_selection
from stacks_cli.common import (
    EXCLUDE,
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    JSON,
    SELECT,
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
    set_verbosity,
    spinning,
    stack_argument,
    survive_closed_pipes,
    tool_output,
)
from stacks_cli.console import render_summary

__all__ = ["main"]

#: when the command started (this module is the console script's first import): the summary's
#: duration is what the user waited, the stack's imports and the dbt parse included
STARTED = time.monotonic()


class _Group(click.Group):
    """click's group, with every error path of its own masked and interrupts made quiet.

    click prints usage errors itself (``Got unexpected extra argument (postgresql://u:pw@...)``)
    and turns Ctrl-C into ``Aborted!`` with exit 1; here both go through :func:`fail`'s masking,
    and an interrupt is one line and exit 130."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        survive_closed_pipes()
        _sigterm_interrupts()
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            raise SystemExit(exc.exit_code) from None
        except click.ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            usage = ctx.get_usage() + "\n" if ctx is not None and exc.exit_code == 2 else ""
            hint = f"Try '{ctx.command_path} -h' for help.\n" if ctx is not None and usage else ""
            sys.stderr.write(mask_secrets(usage + hint))
            fail(exc.format_message(), exc.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort):
            err().print("\nInterrupted; the next run will converge.", highlight=False)
            _leave_now_if_threads_linger(EXIT_INTERRUPTED)
            raise SystemExit(EXIT_INTERRUPTED) from None


def _leave_now_if_threads_linger(code: int) -> None:
    """After Ctrl-C a tool's worker threads (dbt's) may still be inside a C++ library (DuckDB);
    interpreter shutdown then aborts the process ("terminate called ...", SIGABRT) after our
    line. The run is recorded by now: the `stacks` command leaves at once instead."""
    import os
    import threading
    from pathlib import Path

    if Path(sys.argv[0]).name != "stacks" or threading.active_count() <= 1:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _sigterm_interrupts() -> None:
    """SIGTERM (a scheduler or `kill` stopping the command) ends a run as Ctrl-C does."""
    import signal
    import threading

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 run failed or check found differences, 2 bad input/config, "
    "130 interrupted. "
    'Shell completion: eval "$(_STACKS_COMPLETE=bash_source stacks)" (zsh_source, fish_source).',
)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, no tool output.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show library warnings and tracebacks of unexpected errors.",
)
@click.version_option(package_name="stacks-contract", prog_name="stacks")
def main(quiet: bool, verbose: bool) -> None:
    """Run opinionated ELT stacks (extract-load, transform, orchestrate) against a warehouse.

    The warehouse defaults to a DuckDB file under ./.stacks/; pass --warehouse
    postgresql://user:password@host:port/database to use Postgres.
    """
    # the command line is parsed: tools that record it (dbt's run_results.json, its log) see the
    # warehouse URL with its password masked
    sys.argv[:] = [mask_secrets(arg) for arg in sys.argv]
    if quiet and verbose:
        fail("-q and -v cannot be used together.", EXIT_CONFIG)
    set_verbosity(-1 if quiet else 1 if verbose else 0)


@main.command("list")
def list_cmd() -> None:
    """List the installed stacks."""
    from stacks_core.registry import available_stacks, describe

    stacks = available_stacks()
    console = out()
    if not stacks:
        console.print("No stacks are installed (e.g. `uv sync --package stacks-dagster-dlt-dbt`).")
        return
    table = Table(show_header=True, header_style="bold")
    table.add_column("stack", no_wrap=True)
    table.add_column("description")
    for name, ep in stacks.items():
        table.add_row(Text(name), Text(describe(ep)))
    console.print(table)


def _parse_vars(text: str | None) -> dict[str, Any]:
    """``--vars``: a YAML (or JSON) mapping, as dbt's own ``--vars`` takes it."""
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        fail(f"--vars is not valid YAML or JSON: {first}", EXIT_CONFIG)
    if not isinstance(value, dict):
        fail(f"--vars must be a mapping such as '{{key: value}}', got {text!r}.", EXIT_CONFIG)
    return {str(k): v for k, v in value.items()}


@main.command("run")
@stack_argument()
@WAREHOUSE
@SELECT
@EXCLUDE
@click.option("--full-refresh", is_flag=True, help="Rebuild every model from scratch.")
@WAIT
@BACKFILL
@click.option(
    "--vars",
    "vars_text",
    metavar="YAML",
    help="Variables for the transform, e.g. '{start_date: 2024-01-01}' (dbt's --vars).",
)
@JSON
def run_cmd(
    name: str,
    url: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    full_refresh: bool,
    wait: bool,
    backfill: str | None,
    since: str | None,
    until: str | None,
    vars_text: str | None,
    as_json: bool,
) -> None:
    """Run the stack NAME once and print a summary (--json: the run record)."""
    from stacks_contract.selection import resolve

    run_vars = _parse_vars(vars_text)
    stack, warehouse = prepare(name, url, wait=wait)
    name = stack.name  # a reference (`file.py:attr`) runs under its stack's own name
    report = reporter(err())
    window = None
    with errors(warehouse):
        if backfill or since or until:
            if not backfill or select or exclude or full_refresh:
                fail(
                    "--since/--until go with --backfill, which excludes --select, "
                    "--exclude and --full-refresh.",
                    EXIT_CONFIG,
                )
            select, window = backfill_selection(stack.spec(warehouse), backfill, since, until)
        request = RunRequest(
            stack=name,
            select=select,
            exclude=exclude,
            full_refresh=full_refresh,
            vars=run_vars,
            window=window,
        )
        if select or exclude:  # a bad selector is bad input: exit 2 before anything runs
            with tool_output():
                resolve(stack.spec(warehouse), select, exclude)
    progress(f"Running {name} (run {request.run_id}) into {warehouse.redacted_url()}")
    with (
        errors(warehouse),
        spinning(report, f"Running {name}"),
        tool_output(),
        interruptible(warehouse, lambda: request.run_id),
    ):
        record = run_once(stack, warehouse, request, report, in_session=False, wait=wait)
    if as_json:
        emit_json(record.model_dump(mode="json"), warehouse)
    else:
        with errors(warehouse):
            hints = stack.hints(warehouse)
        waited = time.monotonic() - STARTED
        render_summary(out(), record, warehouse.redacted_url(), hints, waited=waited)
    check_record(record, warehouse)


def _register() -> None:
    from stacks_cli.check import check_cmd
    from stacks_cli.clean import clean_cmd
    from stacks_cli.init import init_cmd
    from stacks_cli.inspect import plan_cmd, runs_cmd
    from stacks_cli.state import state_group
    from stacks_cli.ui import ui_cmd

    for command in (check_cmd, plan_cmd, runs_cmd, ui_cmd, init_cmd, clean_cmd, state_group):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
