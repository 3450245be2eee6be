"""The ``stacks`` command line: list, run, check, plan, runs, ui, init and clean.

Exit codes: 0 success; 1 a run failed (or ``check`` found differing fingerprints); 2 bad input or
configuration (unknown stack or selector, malformed or unreachable warehouse URL). Errors are one
sentence on stderr; a :class:`~stacks_contract.errors.StacksError` never prints a traceback.
``--json`` prints one JSON document on stdout and everything else on stderr.

Only click and rich are imported here; the contract (pydantic) and the runtime are imported by
the commands, after their first line: ``stacks run`` says what it is doing at once, and
``stacks --help`` stays fast. A stack's tools are imported when the stack is loaded or run.
Shell completion (stack names included): ``eval "$(_STACKS_COMPLETE=bash_source uv run stacks)"``
(:mod:`stacks_cli.completion`: ``uv run stacks`` as well as ``stacks``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from stacks_cli.backfill import BACKFILL
from stacks_cli.common import (
    EXCLUDE,
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    JSON,
    SELECT,
    STARTED,
    WAIT,
    WAREHOUSE,
    check_record,
    emit_json,
    err,
    errors,
    fail,
    interruptible,
    live,
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
from stacks_cli.transform_options import TRANSFORM_OPTIONS
from stacks_cli.window import WINDOW_HELP

if TYPE_CHECKING:
    from stacks_contract.models import RunRecord, RunRequest
    from stacks_contract.ports import Reporter, Stack
    from stacks_contract.warehouse import Warehouse

__all__ = ["main"]


class _Group(click.Group):
    """click's group, with every error path of its own masked and interrupts made quiet.

    click prints usage errors itself (``Got unexpected extra argument (postgresql://u:pw@...)``)
    and turns Ctrl-C into ``Aborted!`` with exit 1; here both go through :func:`fail`'s masking,
    and an interrupt is one line and exit 130.

    The commands other than ``run`` and ``list`` live in modules of their own, imported when
    named (click's lazy-loading pattern), so ``stacks run`` imports none of them."""

    #: command name -> "module:attribute"
    LAZY = {
        "check": "stacks_cli.check:check_cmd",
        "clean": "stacks_cli.clean:clean_cmd",
        "docs": "stacks_cli.docs:docs_cmd",
        "init": "stacks_cli.init:init_cmd",
        "plan": "stacks_cli.inspect:plan_cmd",
        "runs": "stacks_cli.inspect:runs_cmd",
        "state": "stacks_cli.state:state_group",
        "ui": "stacks_cli.ui:ui_cmd",
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            import importlib

            module, attr = self.LAZY[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if "_STACKS_COMPLETE" in os.environ:  # a shell asks for completions or their script
            from stacks_cli.completion import register

            register()
        kwargs["standalone_mode"] = False
        survive_closed_pipes()
        _sigterm_interrupts()
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            raise SystemExit(exc.exit_code) from None
        except click.ClickException as exc:
            from stacks_contract.warehouse import mask_secrets

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
    _release_semaphores()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _release_semaphores() -> None:
    """The named semaphores a tool made with multiprocessing (dbt's, Cosmos') are unlinked by
    finalizers ``os._exit`` skips: multiprocessing's resource tracker, a process of its own,
    would then print "leaked semaphore objects" after our last line. Run only those finalizers
    (each unlinks one name and tells the tracker), not the ones that join threads or children."""
    import multiprocessing.util as mp_util
    from multiprocessing.synchronize import SemLock

    cleanup = getattr(SemLock, "_cleanup", None)  # private: absent, nothing is done
    registry = getattr(mp_util, "_finalizer_registry", {})
    for finalizer in list(registry.values()):
        if cleanup is not None and getattr(finalizer, "_callback", None) is cleanup:
            with contextlib.suppress(Exception):
                finalizer()


def _mask_process_title() -> None:
    """What ``ps`` and ``/proc/PID/cmdline`` show of this process: its command line with every
    password masked (the interpreter's own argv, rewritten in place by setproctitle)."""
    import setproctitle
    from stacks_contract.warehouse import mask_secrets

    with contextlib.suppress(OSError):
        raw = open(f"/proc/{os.getpid()}/cmdline", "rb").read()  # noqa: SIM115 (one read)
        words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
        setproctitle.setproctitle(" ".join(mask_secrets(w) for w in words))
        return
    setproctitle.setproctitle(" ".join(mask_secrets(w) for w in sys.argv))


def _sigterm_interrupts() -> None:
    """SIGTERM (a scheduler or `kill` stopping the command) ends a run as Ctrl-C does; a second
    Ctrl-C (or SIGTERM) while the first is being handled (a tool finishing or swallowing it)
    leaves at once: one line, exit 130 (the run's row stays ``running`` until the next run
    marks it ``abandoned``)."""
    import signal
    import threading

    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            os.write(2, b"\nInterrupted again: leaving now; the next run will converge.\n")
            os._exit(EXIT_INTERRUPTED)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if ignored (nohup)
        signal.signal(signal.SIGINT, interrupt)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 run failed or check found differences, 2 bad input/config, "
    "130 interrupted. "
    'Shell completion: eval "$(_STACKS_COMPLETE=bash_source uv run stacks)" (completes '
    "`uv run stacks` and `stacks`; zsh_source, fish_source: `stacks`).",
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
    # warehouse URL with its password masked, and so does `ps` for the rest of the run (the
    # contract's masking is imported only for a command line that may hold a secret)
    if any("://" in arg or "pass" in arg.lower() for arg in sys.argv):
        _mask_command_line(quiet)
    if quiet and verbose:
        fail("-q and -v cannot be used together.", EXIT_CONFIG)
    set_verbosity(-1 if quiet else 1 if verbose else 0)


def _mask_command_line(quiet: bool) -> None:
    from stacks_contract.warehouse import mask_secrets

    masked = [mask_secrets(arg) for arg in sys.argv]
    if masked != sys.argv:
        _mask_process_title()
        if not quiet:
            err().print(
                "Warning: a password on the command line is readable by every local user "
                "(ps) while the command starts; give it in PGPASSWORD, ~/.pgpass or "
                "STACKS_WAREHOUSE instead.",
                highlight=False,
                soft_wrap=True,
            )
    sys.argv[:] = masked


@main.command("list")
def list_cmd() -> None:
    """List the installed stacks."""
    from rich.table import Table
    from stacks_core.registry import available_stacks, describe

    stacks = available_stacks()
    console = out()
    if not stacks:
        console.print(
            "No stacks are installed here: `uv run stacks init my-stack` makes one of your own "
            "(in a stacks checkout, `uv sync --all-packages` installs the shipped ones)."
        )
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
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Reload every selected EL table from its source (cursors reset) and rebuild every "
    "selected model from scratch.",
)
@WAIT
@BACKFILL
@click.option(
    "--vars",
    "vars_text",
    metavar="YAML",
    help="Variables for the transform, e.g. '{start_date: 2024-01-01}' (dbt's --vars).",
)
@TRANSFORM_OPTIONS
@click.option("--window", "window_text", metavar="START..END", help=WINDOW_HELP)
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
    window_text: str | None,
    as_json: bool,
) -> None:
    """Run the stack NAME once and print a summary (--json: the run record)."""
    report = reporter(err())
    with live(report):
        # the first line, before the contract, the runtime and the stack's tools are imported
        report(_shown(name), "resolving the stack")
        run_vars = _parse_vars(vars_text)
        window = (backfill, since, until, window_text)
        record, stack, warehouse = _run(
            name, url, select, exclude, full_refresh, wait, run_vars, report, window
        )
    # the heartbeat has stopped: the summary or the JSON document is never interleaved with it
    if as_json:
        emit_json(record.model_dump(mode="json"), warehouse)
    else:
        from stacks_cli.console import render_summary

        with errors(warehouse):
            hints = stack.hints(warehouse)
        waited = time.monotonic() - STARTED
        render_summary(out(), record, warehouse.redacted_url(), hints, waited=waited)
    check_record(record, warehouse)


def _shown(name: str) -> str:
    """NAME for the first line, printed before the contract's masking is imported: a stack name
    or a `file.py:attr` reference as typed; anything else (a URL typed in the wrong place, with
    its password) is not echoed."""
    import re

    return name if re.fullmatch(r"[\w./\-]+(:[\w.]+)?", name) else "stacks"


def _run(
    name: str,
    url: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    full_refresh: bool,
    wait: bool,
    run_vars: dict[str, Any],
    report: Reporter,
    window_args: tuple[str | None, str | None, str | None, str | None],
) -> tuple[RunRecord, Stack, Warehouse]:
    """The run itself, from loading the stack to its ledger record (``window_args``: the
    --backfill, --since, --until and --window given)."""
    from stacks_contract.models import RunRequest
    from stacks_contract.selection import resolve

    from stacks_cli.backfill import backfill_selection
    from stacks_cli.window import parse_window

    backfill, since, until, window_text = window_args
    if window_text and (backfill or since or until):
        fail("--window is the whole run's window; --backfill STEP --since/--until is one "
             "step's: give one of them.", EXIT_CONFIG)  # fmt: skip
    window = parse_window(window_text)
    stack, warehouse = prepare(name, url, wait=wait, report=report)
    name = stack.name  # a reference (`file.py:attr`) runs under its stack's own name
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
            report(name, "resolving the selection (reads the stack's steps and models)")
            with tool_output():
                resolve(stack.spec(warehouse), select, exclude, warehouse=warehouse)

    begun: list[RunRecord] = []

    def started() -> None:  # once the lock is held: a refused run never names a run id
        begun.append(_outage(request, name, stack))
        progress(f"Running {name} (run {request.run_id}) into {warehouse.redacted_url()}")

    with (
        errors(warehouse),
        spinning(report, f"Running {name}"),
        tool_output(),
        interruptible(warehouse, lambda: request.run_id),
    ):
        try:
            record = run_once(
                stack, warehouse, request, report, in_session=False, wait=wait, on_lock=started
            )
        except Exception as exc:
            from stacks_contract.models import utcnow
            from stacks_contract.warehouse import redact
            from stacks_core.retry import is_transient

            # the warehouse went away during the run for longer than the retries waited: the
            # run failed (exit 1, with its summary), it is not bad configuration (exit 2)
            if not begun or not is_transient(exc):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            record = begun[0].model_copy(
                update={
                    "finished_at": utcnow(),
                    "error": redact(
                        f"the warehouse was unreachable for longer than the retries wait "
                        f"({first}); the run could not record its end, the next run marks it "
                        "and converges",
                        warehouse,
                    ),
                }
            )
    return record, stack, warehouse


def _outage(request: RunRequest, name: str, stack: Stack) -> RunRecord:
    """The record shown when the warehouse goes away mid-run and the ledger cannot be read."""
    from stacks_contract.models import RunRecord, RunStatus, utcnow

    orchestrator = getattr(stack.orchestrator(), "name", "?")
    return RunRecord(
        run_id=request.run_id,
        stack=name,
        orchestrator=orchestrator,
        trigger=request.trigger,
        status=RunStatus.FAILED,
        started_at=utcnow(),
    )


if __name__ == "__main__":  # pragma: no cover
    main()
