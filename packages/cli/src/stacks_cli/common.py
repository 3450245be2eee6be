"""What every ``stacks`` command shares: consoles, the error policy, verbosity, ``--json``
output, the ``--warehouse`` option and stack-name completion.

Only click and rich are imported at module level: the contract (pydantic) and the runtime are
imported by the functions that need them, so a command prints its first line before it pays for
them and ``stacks --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.shell_completion import CompletionItem
from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from stacks_contract.models import RunRecord, RunRequest
    from stacks_contract.ports import Reporter, Stack
    from stacks_contract.warehouse import Warehouse

__all__ = [
    "EXCLUDE",
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "JSON",
    "SELECT",
    "STARTED",
    "WAIT",
    "WAREHOUSE",
    "check_record",
    "complete_stack",
    "emit_json",
    "err",
    "errors",
    "fail",
    "interruptible",
    "live",
    "mask_argv",
    "out",
    "prepare",
    "progress",
    "quiet_tools",
    "reporter",
    "run_once",
    "set_verbosity",
    "spinning",
    "stack_argument",
    "survive_closed_pipes",
    "tool_output",
    "verbosity",
]

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130

#: when the command started (this module is among the console script's first imports): progress
#: lines count from here, and the summary's duration is what the user waited
STARTED = time.monotonic()

_LEVEL = [0]  # -1 quiet (-q), 0 normal, 1 verbose (-v)
_CURRENT: list[Any] = []  # the ConsoleReporter of this command, if any


def set_verbosity(level: int) -> None:
    """-q / -v for this command; :func:`prepare` hands it to the runtime before a stack loads.
    Called once per command, first: it also forgets a previous command's reporter (tests run
    several commands in one process)."""
    _LEVEL[0] = level
    _CURRENT.clear()
    if "stacks_core.verbosity" in sys.modules:
        sys.modules["stacks_core.verbosity"].set_verbosity(level)


def verbosity() -> int:
    return _LEVEL[0]


# Tools read these at import time; set them before any stack is loaded.
QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
}


def out() -> Console:
    # Built per call: click's CliRunner swaps sys.stdout, and a module-level Console would keep
    # writing to the original stream.
    return Console(file=sys.stdout, highlight=False)


def err() -> Console:
    return Console(file=sys.stderr, highlight=False)


class _Unbreakable:
    """A text stream whose reader may go away (``stacks run ... | head``): the first write to a
    closed pipe points the file descriptor at /dev/null, and the run goes on."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._divert()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._divert()

    def _divert(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def survive_closed_pipes() -> None:
    """Keep running when stdout or stderr is a pipe whose reader has gone."""
    if not isinstance(sys.stdout, _Unbreakable):
        sys.stdout = _Unbreakable(sys.stdout)
    if not isinstance(sys.stderr, _Unbreakable):
        sys.stderr = _Unbreakable(sys.stderr)


def fail(message: str, code: int) -> NoReturn:
    from stacks_contract.warehouse import mask_secrets

    # masked again here: a message may echo what the user typed (a URL where a name was expected)
    err().print(Text.assemble(("Error: ", "bold red"), mask_secrets(message)), soft_wrap=True)
    raise SystemExit(code)


@contextmanager
def errors(warehouse: Warehouse | None = None) -> Iterator[None]:
    """Turn exceptions into one masked sentence and an exit code (-v: a traceback as well)."""
    from stacks_contract.errors import ConfigError, RunLocked, StacksError, WarehouseUnreachable
    from stacks_contract.warehouse import redact

    try:
        yield
    except (ConfigError, WarehouseUnreachable, RunLocked) as exc:
        fail(redact(str(exc), warehouse), EXIT_CONFIG)
    except StacksError as exc:
        fail(redact(str(exc), warehouse), EXIT_FAILED)
    except Exception as exc:
        if os.environ.get("STACKS_TRACEBACK") or verbosity() > 0:
            raise
        denied = _denied(exc, warehouse)
        if denied:
            fail(redact(denied, warehouse), EXIT_CONFIG)
        fail(
            redact(f"unexpected {type(exc).__name__}: {exc}", warehouse)
            + " (set STACKS_TRACEBACK=1 or pass -v to see the traceback)",
            EXIT_FAILED,
        )


def _denied(exc: BaseException, warehouse: Warehouse | None) -> str | None:
    """A warehouse or a folder that cannot be written is configuration (exit 2), not a crash:
    the sentence says what was refused, in the database's or the OS's own words."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "InsufficientPrivilege" in kinds:
        where = warehouse.redacted_url() if warehouse is not None else "the warehouse"
        user = getattr(warehouse, "user", None)
        who = f"the user {user!r}" if user else "this user"
        return f"{who} lacks a privilege on {where}: {first}"
    if isinstance(exc, PermissionError):
        name = exc.filename or ""
        return (
            f"Cannot write {name or 'a file'}: {exc.strerror or first} (check its owner and mode)."
        )
    return None


def quiet_tools() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def mask_argv() -> None:
    """Mask the command line before any tool reads it: dbt records it in run_results.json and
    its log, with the warehouse URL's password."""
    from stacks_contract.warehouse import mask_secrets

    sys.argv[:] = [mask_secrets(arg) for arg in sys.argv]


def prepare(
    name: str,
    url: str | None,
    *,
    connect_first: bool = True,
    wait: bool = False,
    report: Reporter | None = None,
) -> tuple[Stack, Warehouse]:
    """Load the stack, parse the URL and (unless told not to) prove the warehouse answers,
    before any work starts. A DuckDB file another run of the stack holds open cannot answer:
    that is "already running" (exit 2), or with ``wait`` the run lock's to wait for.
    ``report`` hears each stage."""
    from stacks_contract.warehouse import parse_warehouse
    from stacks_core.registry import entry_point, is_reference, load_stack
    from stacks_core.verbosity import set_verbosity as runtime_verbosity

    mask_argv()
    runtime_verbosity(verbosity())
    quiet_tools()
    # cheapest checks first (loading a stack may import heavy tools), and no warehouse file is
    # created for a stack name that does not exist; a reference (`file.py:attr`) is loaded
    # first: its stack's own name names the default warehouse
    with errors():
        entry_point(name)
        stack = load_stack(name) if is_reference(name) else None
        warehouse = parse_warehouse(url, default_name=stack.name if stack else name)
    if url and "schema=" in url.partition("?")[2]:  # refused before the warehouse is touched
        with errors(warehouse), tool_output():
            stack = stack or load_stack(name)
            _schema_honoured(stack, warehouse)
    if connect_first:
        if report is not None:
            report(stack.name if stack else name, f"connecting to {warehouse.redacted_url()}")
        with errors(warehouse):
            _answers(warehouse, stack.name if stack else name, wait)
    if stack is None:
        with errors(warehouse):
            stack = load_stack(name)
    return stack, warehouse


def _schema_honoured(stack: Stack, warehouse: Warehouse) -> None:
    """``?schema=X`` names the schema the EL steps load into: a stack whose steps write to
    another schema cannot honour it, and would fail (or load where the models do not read)
    after work had begun. Bad configuration, said before anything runs."""
    from stacks_contract.errors import ConfigError
    from stacks_contract.manifest import plan

    try:
        spec = stack.spec(warehouse)
        plan(spec)  # steps that follow the schema, a transform that does not
    except ConfigError as exc:
        raise ConfigError(
            f"{str(exc).rstrip('.')}: the warehouse URL's ?schema={warehouse.schema_name} moves "
            f"where {stack.name} loads, not what its models read; drop ?schema= from the URL."
        ) from None
    written = sorted({t.schema_name for step in spec.el_steps for t in step.produces()})
    if written and warehouse.schema_name not in written:
        raise ConfigError(
            f"{stack.name} loads its raw tables into the schema {', '.join(written)}, not "
            f"{warehouse.schema_name!r} as the warehouse URL's ?schema= asks; drop ?schema= "
            "from the URL (its steps choose their schema)."
        )


def _answers(warehouse: Warehouse, stack: str, wait: bool) -> None:
    """Prove the warehouse answers. A DuckDB file admits one process at a time: while another
    run of the stack holds it, say "already running" (:class:`RunLocked`), or with ``wait``
    leave it to the run lock (``connect`` itself waits out another process's brief open)."""
    from stacks_contract.errors import RunLocked, WarehouseUnreachable
    from stacks_core.runlock import held
    from stacks_core.sql import connect

    for attempt in (1, 2):
        busy = held(warehouse, stack)
        if busy:
            if wait:
                return
            raise RunLocked(busy)
        try:
            with connect(warehouse) as conn:
                if conn.dialect == "postgres":
                    _may_create(conn, warehouse)
                return
        except WarehouseUnreachable:
            if attempt == 2 or warehouse.kind != "duckdb":
                raise  # (a run that took the file meanwhile is asked for again, once)


def _may_create(conn: Any, warehouse: Warehouse) -> None:
    """A run creates schemas (the raw one, ``stacks_meta``, the models'): a user who may not,
    where they do not exist yet, is told before any tool starts, not minutes into a run."""
    from stacks_contract.errors import ConfigError

    if conn.execute("select has_database_privilege(current_database(), 'CREATE')")[0][0]:
        return
    schemas = sorted({warehouse.schema_name, "stacks_meta"})
    rows = conn.execute(
        "select nspname, has_schema_privilege(oid, 'CREATE') from pg_namespace "
        f"where nspname in ({', '.join('?' * len(schemas))})",
        schemas,
    )
    usable = {name for name, may in rows if may}
    missing = [name for name in schemas if name not in usable]
    if missing:
        user = getattr(warehouse, "user", "")
        raise ConfigError(
            f"the user {user!r} lacks a privilege on {warehouse.redacted_url()}: permission "
            f"denied to create schema(s) {', '.join(missing)} (grant CREATE on the database, or "
            "create those schemas and grant CREATE on them)."
        )


@contextmanager
def tool_output() -> Iterator[None]:
    """While tools run: their prints go to stderr (stdout keeps only the summary or the JSON
    document, so it can be piped; with -q nowhere), and library deprecation warnings, which a
    user cannot act on, are hidden unless -v or Python was asked to show them (-W)."""
    target = io.StringIO() if verbosity() < 0 else sys.stderr
    with redirect_stdout(target), warnings.catch_warnings():
        if not sys.warnoptions and verbosity() <= 0:
            warnings.simplefilter("ignore")
        yield


def reporter(console: Console) -> Reporter:
    """The progress sink: a :class:`ConsoleReporter` on ``console``, or nothing with -q. The
    latest one made is where :func:`progress` lines go."""
    if verbosity() < 0:
        from stacks_contract.ports import silent

        _CURRENT[:] = []
        return silent
    from stacks_cli.console import ConsoleReporter

    report = ConsoleReporter(console, started=STARTED)
    _CURRENT[:] = [report]
    return report


@contextmanager
def live(report: Reporter) -> Iterator[Reporter]:
    """The reporter's heartbeat while the block runs: a line at least every few seconds (see
    :class:`~stacks_cli.console.ConsoleReporter`), stopped before the block's caller prints
    the summary or the JSON document. With -q: nothing."""
    if isinstance(report, contextlib.AbstractContextManager):
        with report:
            yield report
    else:
        yield report


@contextmanager
def spinning(report: Reporter, title: str) -> Iterator[None]:
    """The reporter's spinner and heartbeat while the block runs (none with -q)."""
    spin = getattr(report, "spinning", None)
    if spin is None:
        yield
        return
    with spin(title):
        yield


def progress(message: str) -> None:
    """A progress line on stderr (dropped with -q)."""
    if verbosity() < 0:
        return
    if _CURRENT:
        _CURRENT[0].say(message)  # the heartbeat counts its quiet time from here
    else:
        err().print(Text(message), soft_wrap=True)


def check_record(record: RunRecord, warehouse: Warehouse) -> None:
    from stacks_contract.models import RunStatus
    from stacks_contract.warehouse import redact

    if record.status != RunStatus.SUCCEEDED:
        reason = record.error or "no error message was recorded"
        fail(
            redact(f"run {record.run_id} of {record.stack} failed: {reason}", warehouse),
            EXIT_FAILED,
        )


def emit_json(data: Any, warehouse: Warehouse | None = None) -> None:
    """One JSON document on stdout, the warehouse password masked wherever it appears."""
    from stacks_contract.warehouse import redact

    text = json.dumps(data, indent=2, sort_keys=False, default=str)
    sys.stdout.write(redact(text, warehouse) + "\n")
    sys.stdout.flush()


def complete_stack(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion for a stack NAME: the installed stacks (package metadata only)."""
    from stacks_core.registry import available_stacks, describe

    return [
        CompletionItem(name, help=describe(ep) or None)
        for name, ep in available_stacks().items()
        if name.startswith(incomplete)
    ]


WAREHOUSE = click.option(
    "--warehouse",
    "-w",
    "url",
    metavar="URL",
    envvar="STACKS_WAREHOUSE",
    help="postgresql://... or duckdb:///path.duckdb (default: ./.stacks/NAME.duckdb; "
    "env STACKS_WAREHOUSE).",
)
JSON = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout (for scripts)."
)
SELECT = click.option(
    "--select",
    "-s",
    multiple=True,
    help="Only what this selects (repeatable): an EL step, a table or a model; X+ adds "
    "what is downstream, +X what is upstream, tag:T every model tagged T.",
)
WAIT = click.option(
    "--wait",
    is_flag=True,
    help="If the stack is already running into this warehouse, wait for that run to end "
    "(default: exit 2 at once).",
)
EXCLUDE = click.option(
    "--exclude", "-x", multiple=True, help="Leave out what this selects (same grammar)."
)


def stack_argument() -> Any:
    return click.argument("name", shell_complete=complete_stack)


@contextlib.contextmanager
def interruptible(warehouse: Warehouse, run_id: Callable[[], str | None]) -> Iterator[None]:
    """An interrupted run is recorded as such in the ledger (not left ``running``)."""
    try:
        yield
    except KeyboardInterrupt:
        from stacks_core.ledger import Ledger

        current = run_id()
        if current is not None:
            with contextlib.suppress(Exception):  # the interrupt is what the user must see
                Ledger(warehouse).interrupt(current)
        raise


def run_once(
    stack: Stack,
    warehouse: Warehouse,
    request: RunRequest,
    report: Reporter,
    *,
    in_session: bool,
    wait: bool = False,
    on_lock: Callable[[], None] | None = None,
) -> RunRecord:
    if in_session:
        # `check` keeps one session (and the run lock) across runs (one demo source), so it
        # calls the orchestrator directly instead of run_stack.
        return stack.orchestrator().run(stack.spec(warehouse), request, warehouse, report)
    from stacks_core.runner import run_stack

    return run_stack(stack, warehouse, request, report, wait=wait, on_lock=on_lock)
