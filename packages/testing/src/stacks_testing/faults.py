"""The fault matrix: a real stack run by the ``stacks`` CLI in subprocesses, then hurt.

Each fault strikes when a marker (a regex) shows in the run's output, plus a delay: SIGKILL of
the whole process group (extract, load, between EL and dbt, inside dbt, the ledger write),
Ctrl-C (SIGINT to the group, as a terminal sends it), a Postgres restart, a second run started
beside the first. After each group of faults a run must leave the warehouse equal to a clean
run's fingerprint (load metadata ignored) with no duplicate row, and at the end the ledger must
hold one truthful row per run that started: ``abandoned`` for a killed run, ``interrupted`` for
Ctrl-C, ``succeeded`` for the rest, none for a run the run lock refused, none ``running``.

:class:`FaultMatrix` drives one stack on one warehouse; :meth:`FaultMatrix.table` is the
printable result (fault, where it struck, exit, ledger, converged).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from stacks_contract.models import RunStatus, TableRef
from stacks_contract.warehouse import PostgresWarehouse, Warehouse
from stacks_core.fingerprint import Fingerprint, diff, fingerprint
from stacks_core.ledger import LEDGER_SCHEMA, LEDGER_TABLE, Ledger

from stacks_testing.fault_tools import (
    after_interrupt,
    duplicate_rows,
    format_table,
    last_progress,
    loads_since,
    restart_postgres,
    wait_on_lock,
)

__all__ = [
    "FaultMatrix",
    "Strike",
    "duplicate_rows",
    "format_table",
    "restart_postgres",
    "standard_matrix",
]

#: seconds a Ctrl-C'd run may take to exit: a liveness bound for a shared, loaded machine (the
#: runs take ~1-4 s here), not a speed goal
INTERRUPT_BOUND = 20.0
RUN_ID = re.compile(r"\(run (\d{8}T\d{6}-[0-9a-f]{8})\)")
LOCKED = "already running"


@dataclass(frozen=True)
class Strike:
    """Strike ``delay`` seconds after ``marker`` first shows in the run's output."""

    where: str  # the phase, for the table
    marker: str
    delay: float = 0.0


@dataclass
class Launched:
    """One ``stacks run`` process and what became of it."""

    fault: str
    proc: subprocess.Popen[bytes]
    log: Path
    struck: bool = False
    expect: RunStatus | None = RunStatus.SUCCEEDED  # None: no ledger row (refused)
    #: also true: a kill in the final ledger write may land after the write reached the server
    also: RunStatus | None = None
    returncode: int | None = None
    #: when the signal went (UTC, and the monotonic clock) and how much had been printed then
    signalled_at: datetime | None = None
    signalled_clock: float = 0.0
    printed_before: int = 0

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def run_id(self) -> str | None:
        found = RUN_ID.search(self.output())
        return found.group(1) if found else None


@dataclass
class Row:
    warehouse: str
    fault: str
    where: str
    exits: str
    ledger: str = ""
    converged: str = ""
    secrets: str = ""


@dataclass
class FaultMatrix:
    """Faults against ``stacks run STACK`` on ``warehouse`` (``env`` for every child, run in
    ``cwd``); ``target``: the fingerprint of a clean run of the same data."""

    stack: str
    warehouse: Warehouse
    env: Mapping[str, str]
    cwd: Path
    target: Fingerprint
    tables: Sequence[TableRef]
    metadata: Sequence[str]
    #: put in every child's environment (and as the Postgres password): :meth:`scan` looks for it
    secret: str = "Sc4n-Me-S3cr3t"
    timeout: float = 600.0
    rows: list[Row] = field(default_factory=list)
    launched: list[Launched] = field(default_factory=list)
    #: command lines seen holding the secret while runs went on
    cmdline_leaks: set[str] = field(default_factory=set)
    _count: int = 0

    # --- processes ----------------------------------------------------------------------------
    def _start(self, fault: str) -> Launched:
        self._count += 1
        log = self.cwd / f"run{self._count:02d}.log"
        stacks = str(Path(sys.executable).parent / "stacks")
        home, tmp = self.cwd / "home", self.cwd / "tmp"
        home.mkdir(exist_ok=True)
        tmp.mkdir(exist_ok=True)
        env = {
            **os.environ,
            **self.env,
            **_warehouse_env(self.warehouse, self.secret),
            # what the run writes for itself lands where scan() looks
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "STACKS_SCAN_SECRET": self.secret,  # a tool that dumps its environment shows it
        }
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [stacks, "run", self.stack],
                cwd=self.cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill reaches the tools it started
                preexec_fn=_default_sigint,  # as a terminal has it, whatever CI inherited
            )
        run = Launched(fault=fault, proc=proc, log=log)
        self.launched.append(run)
        return run

    def _watch_cmdlines(self) -> None:
        """The command line of every process a run of this matrix started, now: none may hold
        the secret (``ps`` shows them to every local user); what holds it is kept for
        :meth:`scan`. A run is a session of its own (``start_new_session``), so its processes
        are those whose session id is its pid: other jobs on the machine (a test that passes a
        password on purpose) are not this matrix's."""
        needle = self.secret.encode()
        sessions = {run.proc.pid for run in self.launched if run.proc.poll() is None}
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                stat = (proc / "stat").read_text()
                session = int(stat.rsplit(")", 1)[1].split()[3])
                if session not in sessions:
                    continue
                line = (proc / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue
            if needle in line:
                self.cmdline_leaks.add(line.replace(b"\0", b" ")[:120].decode(errors="replace"))

    def _wait_for(self, run: Launched, strike: Strike) -> bool:
        """Block until ``strike`` is due (True) or the run ended first (False); the processes'
        command lines are read meanwhile."""
        pattern = re.compile(strike.marker)
        deadline = time.monotonic() + self.timeout
        watched = 0.0
        while time.monotonic() < deadline:
            if time.monotonic() - watched > 0.25:
                self._watch_cmdlines()
                watched = time.monotonic()
            if pattern.search(run.output()):
                time.sleep(strike.delay)
                return run.proc.poll() is None
            if run.proc.poll() is not None:
                return False
            time.sleep(0.01)
        raise TimeoutError(f"{strike.marker!r} never showed in {run.log}")

    def _finish(self, run: Launched) -> int:
        try:
            run.returncode = run.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()
            raise AssertionError(f"{run.fault}: the run hung; log {run.log}") from None
        return run.returncode

    def _signal(self, run: Launched, sig: int) -> None:
        run.printed_before = len(run.output())
        run.signalled_at, run.signalled_clock = datetime.now(UTC), time.monotonic()
        try:
            os.killpg(run.proc.pid, sig)
        except ProcessLookupError:
            return
        run.struck = True

    # --- faults -------------------------------------------------------------------------------
    def kill(self, strike: Strike) -> None:
        """SIGKILL the run at ``strike``; the next run marks it abandoned."""
        run = self._start(f"SIGKILL in {strike.where}")
        if self._wait_for(run, strike):
            self._signal(run, signal.SIGKILL)
        code = self._finish(run)
        self._settle(run, code, RunStatus.ABANDONED, strike.where)

    def interrupt(self, strike: Strike) -> None:
        """Ctrl-C at ``strike``: one line, exit 130, the ledger says interrupted."""
        run = self._start(f"Ctrl-C in {strike.where}")
        if self._wait_for(run, strike):
            self._signal(run, signal.SIGINT)
        code = self._finish(run)
        seconds = time.monotonic() - run.signalled_clock
        if run.struck:
            out, at = run.output(), run.printed_before
            assert code == 130, (
                f"Ctrl-C: exit {code}, not 130; around the signal (at {at} chars):\n"
                f"{out[max(0, at - 600) : at]}<<< SIGINT >>>{out[at : at + 2000]}\n"
                f"... the end:\n{out[-1500:]}"
            )
            printed = run.output()[run.printed_before :]
            wrong = after_interrupt(printed, seconds, INTERRUPT_BOUND)
            assert run.signalled_at is not None
            late = loads_since(self.warehouse, run.signalled_at)
            if late:
                wrong.append(f"loads committed after the signal: {', '.join(late)}")
            assert not wrong, f"Ctrl-C in {strike.where}: {'; '.join(wrong)}:\n{printed[-3000:]}"
        self._settle(run, code, RunStatus.INTERRUPTED, strike.where)
        if run.struck:
            self.rows[-1].exits = f"130 in {seconds:.1f}s"

    def restart(self, *strikes: Strike) -> None:
        """Restart Postgres at each of ``strikes`` in turn, all in one run: it retries what the
        restarts broke and succeeds."""
        assert isinstance(self.warehouse, PostgresWarehouse), "a restart needs Postgres"
        where = " and ".join(s.where for s in strikes)
        run = self._start(f"Postgres restarts in {where}")
        landed = []
        for strike in strikes:
            if self._wait_for(run, strike):
                landed.append(last_progress(run.output()))
                restart_postgres(self.warehouse)
        code = self._finish(run)
        assert code == 0, f"a restart ended the run (exit {code}):\n{run.output()[-4000:]}"
        run.expect = RunStatus.SUCCEEDED
        shown = " / ".join(landed) if landed else "finished first"
        self.rows.append(Row(_kind(self.warehouse), run.fault, shown, str(code)))
        self.converges()

    def kill_in_ledger_write(self, strike: Strike) -> None:
        """Postgres: hold the ledger table locked from ``strike`` on, SIGKILL the run once it
        waits on that lock (so the kill lands inside its ledger write), then let go."""
        assert isinstance(self.warehouse, PostgresWarehouse), "the ledger lock needs Postgres"
        import psycopg

        run = self._start("SIGKILL in the ledger write")
        url = self.warehouse.url()
        with psycopg.connect(url) as conn, psycopg.connect(url, autocommit=True) as watch:
            if self._wait_for(run, strike):
                conn.execute(f"lock table {LEDGER_SCHEMA}.{LEDGER_TABLE} in exclusive mode")
                # (another connection: pg_stat_activity is a snapshot per transaction)
                waited = wait_on_lock(watch, LEDGER_TABLE, lambda: run.proc.poll() is None, 120.0)
                self._signal(run, signal.SIGKILL)
                assert waited, f"the run never waited on the ledger; log {run.log}"
            conn.rollback()
        code = self._finish(run)
        self._settle(run, code, RunStatus.ABANDONED, "the ledger write")
        # the write the run had sent waited on our lock in its server process, which does not
        # notice a dead client while it waits: released, it commits. Both outcomes are true.
        run.also = RunStatus.SUCCEEDED

    def race(self) -> None:
        """Two runs at once: one runs, the other exits 2 at once naming the run it met."""
        first, second = self._start("two runs at once"), self._start("two runs at once")
        codes = sorted((self._finish(first), self._finish(second)))
        loser = first if first.returncode == 2 else second
        assert codes == [0, 2], (
            f"two runs at once exited {codes}:\n{first.output()[-2000:]}\n{second.output()[-2000:]}"
        )
        assert LOCKED in loser.output(), loser.output()[-2000:]
        loser.expect = None
        self.rows.append(Row(_kind(self.warehouse), "two runs at once", "start", "0 and 2"))
        self.converges()

    # --- checks -------------------------------------------------------------------------------
    def _settle(self, run: Launched, code: int, expect: RunStatus, where: str) -> None:
        if not run.struck:  # the run ended before the fault was due: it must have succeeded
            assert code == 0, (
                f"{run.fault}: failed on its own (exit {code}):\n{run.output()[-3000:]}"
            )
            expect = RunStatus.SUCCEEDED
        run.expect = expect
        landed = last_progress(run.output()) if run.struck else "finished first"
        self.rows.append(Row(_kind(self.warehouse), run.fault, landed, str(code)))

    def converges(self) -> None:
        """The warehouse equals the clean run's fingerprint, with no duplicate row; every row of
        the matrix since the last check gets the verdict."""
        got = fingerprint(self.warehouse, self.tables, metadata=self.metadata)
        dupes = duplicate_rows(self.warehouse, self.tables, self.metadata)
        verdict = "yes" if got == self.target and not dupes else "NO"
        for row in self.rows:
            row.converged = row.converged or verdict
        assert got == self.target, "the warehouse differs from a clean run's:\n  " + "\n  ".join(
            diff(self.target, got)
        )
        assert not dupes, f"duplicate rows: {dupes}"

    def check_ledger(self) -> None:
        """One truthful row per run that started, none left ``running``, none unknown."""
        records = {r.run_id: r for r in Ledger(self.warehouse).runs()}
        ours = {run.run_id(): run for run in self.launched}
        stray = sorted(set(records) - set(ours))
        assert not stray, f"ledger rows of runs nobody started: {stray}"
        problems = []
        verdicts: dict[str, list[bool]] = {}
        for run_id, run in ours.items():
            record = records.get(run_id or "")
            status = record.status if record else None
            accepted = {run.expect} | ({run.also} if run.also is not None else set())
            ok = (
                status in accepted
                # killed before it wrote its first row: nothing to be truthful about
                or (record is None and run.expect == RunStatus.ABANDONED)
            )
            verdicts.setdefault(run.fault, []).append(ok)
            if not ok:
                problems.append(f"{run.fault} ({run_id}): ledger {status}, expected {run.expect}")
        running = [r.run_id for r in records.values() if r.status == RunStatus.RUNNING]
        for row in self.rows:
            got = verdicts.get(row.fault, [])
            row.ledger = "ok" if got and all(got) else "NO"
        assert not running, f"ledger rows left running: {running}"
        assert not problems, "the ledger does not tell the truth:\n  " + "\n  ".join(problems)

    def scan(self, *also: Path) -> None:
        """The secret is in no output and no file the runs wrote (their folder: logs, state,
        HOME, TMPDIR; plus ``also``), and was on no process's command line while they ran."""
        needle = self.secret.encode()
        leaks = [
            str(p)
            for root in (self.cwd, *also)
            for p in (root.rglob("*") if root.is_dir() else [root])
            if p.is_file() and needle in p.read_bytes()
        ]
        leaks += [f"command line: {line}" for line in sorted(self.cmdline_leaks)]
        for row in self.rows:
            row.secrets = "LEAKED" if leaks else "none"
        assert not leaks, f"the secret was printed or written: {leaks}"

    def table(self) -> str:
        head = ("warehouse", "fault", "struck at", "exit", "ledger", "converged", "secret")
        body = [
            (r.warehouse, r.fault, r.where, r.exits, r.ledger, r.converged, r.secrets)
            for r in self.rows
        ]
        return format_table(head, body)


def _kind(warehouse: Warehouse) -> str:
    return "postgres" if isinstance(warehouse, PostgresWarehouse) else "duckdb"


def _warehouse_env(warehouse: Warehouse, secret: str) -> dict[str, str]:
    if isinstance(warehouse, PostgresWarehouse):  # the test cluster trusts: any password works
        warehouse = warehouse.model_copy(update={"password": SecretStr(secret)})
    return {"STACKS_WAREHOUSE": _url(warehouse)}


def _url(warehouse: Warehouse) -> str:
    # the password in clear, for the child's environment only (never argv: `ps` shows argv)
    return warehouse.url() if isinstance(warehouse, PostgresWarehouse) else warehouse.redacted_url()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


#: where the standard matrix strikes, by the progress lines every shop stack prints
EXTRACT = Strike("extract", r"shop loading", 0.3)
LOAD = Strike("load", r"shop loading", 1.2)
AFTER_EL = Strike("between EL and dbt", r"shop [\d,]+ rows", 0.0)
STAGING = Strike("dbt staging", r"stg_orders", 0.0)
MARTS = Strike("dbt marts", r"fct_orders", 0.0)
LAST_TEST = Strike("dbt's last test", r"unique_dim_customers_customer_id", 0.0)


def standard_matrix(matrix: FaultMatrix, scan_also: Sequence[Path] = ()) -> None:
    """The matrix every orchestrator's module runs: Ctrl-C in the first load, five SIGKILLs per
    warehouse (ten per orchestrator over DuckDB and Postgres: in extract, load, dbt and the
    ledger write), Ctrl-C in dbt (each Ctrl-C: exit 130, quiet, no load committed or mart built
    after the signal), two runs at once (the one that runs must converge from everything before
    it); on Postgres, before the kills, a run whose server restarts mid-load and again mid-dbt
    (it must succeed: transient failures are retried). Last, the secrets scan over everything
    the runs printed or wrote (and ``scan_also``: state a service kept elsewhere, e.g. a
    Temporal server's database)."""
    postgres = isinstance(matrix.warehouse, PostgresWarehouse)
    # first, while the warehouse is empty: the Ctrl-C lands in a load with rows to commit (the
    # shop does not move, so later runs load nothing new)
    matrix.interrupt(LOAD)
    if postgres:
        matrix.restart(LOAD, MARTS)
        for strike in (EXTRACT, LOAD, AFTER_EL, MARTS):
            matrix.kill(strike)
        matrix.kill_in_ledger_write(LAST_TEST)
    else:
        for strike in (EXTRACT, LOAD, STAGING, MARTS, LAST_TEST):
            matrix.kill(strike)
    matrix.interrupt(STAGING)
    matrix.race()
    matrix.check_ledger()
    matrix.scan(*scan_also)
