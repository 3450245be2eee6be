"""Each tool the peers cases run, as the whole process a user would start, the same command for
every run of a workload (a scheduled job runs one command: the first run loads everything, the
next ones what changed). Targets: the ``raw`` schema of a Postgres database, or a DuckDB file.

* ``stacks``: ``uv run stacks run bench/peers/stack_sql.py:stack --warehouse ...`` (the README's
  way in: uv, the CLI, the Local orchestrator, a ``SqlDatabaseStep``);
* ``stacks_api``: the same step through the Python API in a fresh process (no uv, no CLI);
* ``sling``: ``sling run`` (incremental on ``updated_at`` with ``id`` as key; a whole schema as a
  replication of ``public.*``);
* ``ingestr``: ``ingestr ingest`` merge on ``id``, incremental on ``updated_at``;
* ``dlt_pyarrow`` / ``dlt_connectorx``: plain dlt's ``sql_table`` / ``sql_database``
  (``plain_dlt.py``) with that backend;
* ``copy``: the hand-written binary COPY -> COPY (``copy_ref.py``); for a whole schema,
  ``pg_dump | psql``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from peers import install

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

#: which tools each workload runs (sling and the Go ingestr cannot write DuckDB offline;
#: ingestr copies one table per command)
WORKLOADS: dict[str, tuple[str, ...]] = {
    "pg": ("stacks", "stacks_api", "sling", "ingestr", "dlt_pyarrow", "dlt_connectorx", "copy"),
    "duckdb": ("stacks", "stacks_api", "dlt_pyarrow", "dlt_connectorx", "copy"),
    "schema": ("stacks", "stacks_api", "sling", "dlt_pyarrow", "copy"),
}
#: --quick: the goal keys' tools only (sling and the hand-written copy beside stacks' CLI)
WORKLOADS_QUICK: dict[str, tuple[str, ...]] = {
    "pg": ("stacks", "sling", "copy"),
    "schema": ("stacks", "sling"),
}


def tools_for(workload: str, *, quick: bool) -> tuple[str, ...]:
    return WORKLOADS_QUICK.get(workload, WORKLOADS[workload]) if quick else WORKLOADS[workload]


#: the tools installed from the index (the others run in the workspace's own environment)
PEER_VENV = {"sling": "sling", "ingestr": "ingestr", "dlt_pyarrow": "dlt", "dlt_connectorx": "dlt"}


@dataclass
class Command:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    #: a shell pipeline (pg_dump | psql) instead of argv
    shell: bool = False


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise FileNotFoundError(f"{name} is not on PATH nor under /usr/lib/postgresql")


def _no_tls(url: str) -> str:
    if "sslmode=" in url:
        return url
    return url + ("&" if "?" in url else "?") + "sslmode=disable"


def command(tool: str, workload: str, source: str, target: str, state: Path) -> Command:
    """The process ``tool`` runs for ``workload`` from ``source`` (a Postgres URL) into
    ``target`` (a Postgres URL or a DuckDB file path); ``state``: a folder of its own for the
    tool's local state (dlt's working folders, sling's home), kept between runs of a series."""
    table = "" if workload == "schema" else "orders"
    if tool == "stacks":
        uv = shutil.which("uv") or "uv"
        ref = f"{HERE / 'stack_sql.py'}:stack"
        return Command(
            [uv, "run", "stacks", "-q", "run", ref, "--warehouse", target],
            {"BENCH_SQL_SOURCE": source, "BENCH_SQL_TABLES": table, "STACKS_DLT_DIR": str(state)},
        )
    if tool == "stacks_api":
        return Command(
            [sys.executable, str(HERE / "stacks_api.py"), source, target, table],
            {"STACKS_DLT_DIR": str(state)},
        )
    if tool == "sling":
        sling = str(install.ensure("sling").exe("sling-linux-amd64"))
        env = {
            # sling's Go driver asks for TLS unless told otherwise
            "SRC": _no_tls(source),
            "TGT": _no_tls(target),
            "SLING_HOME_DIR": str(state),
            "SLING_DISABLE_TELEMETRY": "true",
        }
        if workload == "schema":
            replication = state / "replication.yaml"
            replication.write_text(
                "source: SRC\ntarget: TGT\ndefaults:\n  mode: full-refresh\n"
                "  object: raw.{stream_table}\nstreams:\n  public.*:\n"
            )
            return Command([sling, "run", "-r", str(replication)], env)
        return Command(
            [
                sling,
                "run",
                "--src-conn",
                "SRC",
                "--src-stream",
                "public.orders",
                "--tgt-conn",
                "TGT",
                "--tgt-object",
                "raw.orders",
                "--mode",
                "incremental",
                "--primary-key",
                "id",
                "--update-key",
                "updated_at",
            ],
            env,
        )
    if tool == "ingestr":
        ingestr = str(install.ensure("ingestr").exe("ingestr"))
        return Command(
            [
                ingestr,
                "ingest",
                "--source-uri",
                source,
                "--source-table",
                "public.orders",
                "--dest-uri",
                target,
                "--dest-table",
                "raw.orders",
                "--incremental-strategy",
                "merge",
                "--incremental-key",
                "updated_at",
                "--primary-key",
                "id",
                "--pipelines-dir",
                str(state),
                "--progress",
                "log",
                "--yes",
            ],
        )
    if tool in ("dlt_pyarrow", "dlt_connectorx"):
        python = str(install.ensure("dlt").python)
        argv = [
            python,
            str(HERE / "plain_dlt.py"),
            "--backend",
            tool.removeprefix("dlt_"),
            "--source",
            source,
            "--dest",
            target,
            "--pipelines-dir",
            str(state),
        ]
        return Command(argv + (["--table", table] if table else []), {"DLT_DATA_DIR": str(state)})
    if tool == "copy":
        if workload == "schema":
            dump, psql = _pg_bin("pg_dump"), _pg_bin("psql")
            pipe = f"{dump} --no-owner --no-privileges '{source}' | {psql} -q -X '{target}'"
            return Command([pipe], shell=True)
        return Command([sys.executable, str(HERE / "copy_ref.py"), source, target, table])
    raise ValueError(f"unknown tool {tool!r}")


def versions() -> dict[str, str]:
    """What each tool is, for the results."""
    out = dict(install.versions())
    out["stacks"] = "this checkout (uv run stacks run, Local orchestrator, SqlDatabaseStep)"
    out["copy"] = "hand-written psycopg binary COPY -> COPY (bench/peers/copy_ref.py)"
    return out


def env_for(cmd: Command, base: dict[str, str]) -> dict[str, str]:
    env = {**base, **cmd.env}
    env.setdefault("HOME", os.environ.get("HOME", "/root"))
    return env
