"""One workload, every tool, interleaved: per repeat each tool gets a fresh copy of the source
(cloned from a template database, byte-identical) and a fresh target, runs its one command as a
whole process for the full load, again with nothing new (no-op) and again after 1% of the rows
changed (keyed workloads); every run is checked row by row (:mod:`verify`) before its time
counts. A tool that fails or copies wrong is reported with the reason, never timed."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Bench, T, log, timed, user_env, wh_conn

from peers import sourcedb, tools, verify

PHASES_KEYED = ("full", "noop", "incr")


@dataclass
class Outcome:
    #: phase -> one time per repeat
    times: dict[str, list[T]] = field(default_factory=dict)
    #: why the tool has no (complete) result: a failed command or a wrong copy
    problem: str | None = None


class Source:
    """A template database holding the workload's source, cloned per run (``create database
    ... template``, a file copy), and the fingerprints a correct copy must match."""

    def __init__(self, b: Bench, workload: str, rows: int) -> None:
        self.b, self.workload = b, workload
        self.template = f"peersrc_{uuid.uuid4().hex[:10]}"
        with wh_conn(b.srv.admin) as admin:
            admin.execute(f'create database "{self.template}"')
        db = b.srv.admin.model_copy(update={"database": self.template})
        with wh_conn(db) as conn:
            if workload == "schema":
                self.relations = sourcedb.sample_schema(conn, rows)
            else:
                sourcedb.keyed_table(conn, rows)
                self.relations = ["orders"]
            self.columns = {r: verify.source_columns(conn, r) for r in self.relations}
            self.expected = {r: self._fp(conn, r) for r in self.relations}
        self.changed: dict[str, verify.Fingerprint] | None = None

    def _fp(self, conn: Any, relation: str) -> verify.Fingerprint:
        return verify.pg_fingerprint(conn, "public", relation, self.columns[relation])

    @contextlib.contextmanager
    def clone(self) -> Any:
        name = f"peersrc_{uuid.uuid4().hex[:10]}"
        with wh_conn(self.b.srv.admin) as admin:
            admin.execute(f'create database "{name}" template "{self.template}"')
        try:
            yield self.b.srv.admin.model_copy(update={"database": name})
        finally:
            self.b.srv.drop_database(name)

    def change(self, src: Any) -> None:
        with wh_conn(src) as conn:
            sourcedb.change_1pct(conn)
            if self.changed is None:
                self.changed = {r: self._fp(conn, r) for r in self.relations}

    def drop(self) -> None:
        with wh_conn(self.b.srv.admin) as admin:
            admin.execute(f'alter database "{self.template}" is_template false')
        self.b.srv.drop_database(self.template)


def check(target: Any, schema: str, src: Source, expected: dict[str, Any]) -> str | None:
    """None when every relation matches; else what differs (one line)."""
    wrong = []
    for rel in src.relations:
        try:
            if isinstance(target, Path):
                import duckdb

                with duckdb.connect(str(target), read_only=True) as con:
                    got = verify.duckdb_fingerprint(con, schema, rel, src.columns[rel])
            else:
                with wh_conn(target) as conn:
                    got = verify.pg_fingerprint(conn, schema, rel, src.columns[rel])
        except Exception as exc:  # a relation the tool did not create
            wrong.append(f"{rel}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
            continue
        want = expected[rel]
        if not got.matches(want):
            what = f"{got.rows} rows (want {want.rows})"
            if got.rows == want.rows:
                what = "checksum differs"
            if got.missing_columns:
                what += f", missing columns {', '.join(got.missing_columns)}"
            wrong.append(f"{rel}: {what}")
    if not wrong:
        return None
    return f"{len(wrong)} of {len(src.relations)} relations wrong: " + "; ".join(wrong[:4])


def run_series(
    b: Bench, workload: str, rows: int, repeat: int, names: tuple[str, ...]
) -> dict[str, Outcome]:
    keyed = workload != "schema"
    src = Source(b, workload, rows)
    out = {t: Outcome() for t in names}
    try:
        for r in range(repeat):
            # interleaved, and each repeat starts with another tool (no position favours one)
            order = names[r % len(names) :] + names[: r % len(names)]
            for tool in order:
                if out[tool].problem:
                    continue
                problem = _one(b, workload, keyed, tool, src, out[tool])
                if problem:
                    out[tool].problem = problem
                    log(f"  {workload} {tool}: {problem}")
    finally:
        src.drop()
    return out


def _one(b: Bench, workload: str, keyed: bool, tool: str, src: Source, res: Outcome) -> str | None:
    duck = workload == "duckdb"
    state = b.workdir()
    with src.clone() as source:
        target: Any = b.duck(f"peer-{tool}").path if duck else b.pg(f"peer_{tool}")
        target_url = str(target) if duck else target.url()
        schema = "public" if (tool == "copy" and workload == "schema") else "raw"
        cmd = tools.command(tool, workload, source.url(), target_url, state)
        env = tools.env_for(cmd, user_env())
        times: dict[str, T] = {}
        try:
            for phase in PHASES_KEYED if keyed else ("full",):
                if phase == "incr":
                    src.change(source)
                t, proc = timed(
                    lambda: subprocess.run(
                        cmd.argv if not cmd.shell else cmd.argv[0],
                        env=env,
                        cwd=cmd.cwd,
                        shell=cmd.shell,
                        capture_output=True,
                        text=True,
                    )
                )
                if proc.returncode != 0:
                    tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
                    return f"{phase} run failed (exit {proc.returncode}): {' | '.join(tail)[:400]}"
                expected = src.changed if phase == "incr" else src.expected
                wrong = check(target, schema, src, expected or {})
                if wrong:
                    return f"{phase} run copied wrong: {wrong}"
                times[phase] = t
        finally:
            if duck:
                Path(target).unlink(missing_ok=True)
            else:
                b.srv.drop_database(target.database)
    for phase, t in times.items():
        res.times.setdefault(phase, []).append(t)
    log(f"  {workload} {tool}: " + "  ".join(f"{p} {t:.2f}s" for p, t in times.items()))
    return None
