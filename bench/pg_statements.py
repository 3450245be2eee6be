"""What Postgres spends an el-dlt load on: every statement's server-side duration, summed by kind.

    uv run python bench/pg_statements.py [--rows 1000000]

Runs the bench's keyed Arrow source (merge on id, cursor on updated_at) twice through el-dlt into
a fresh database with ``log_min_duration_statement = 0``: a first load, then a merge re-load of
the same rows (a second step without the cursor), and sums the durations the server logged.
Writes bench/results/pg_statements.txt.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import sources  # noqa: E402

STRATEGIES: dict[str, object] = {
    "delete-insert": "merge",  # dlt's default on Postgres
    "delete-insert-deduplicated": {
        "disposition": "merge",
        "strategy": "delete-insert",
        "deduplicated": True,
    },
    "upsert": {"disposition": "merge", "strategy": "upsert"},
    "upsert-skip-unchanged": {
        "disposition": "merge",
        "strategy": "upsert",
        "skip_unchanged_rows": True,
        "row_version_column_name": "updated_at",
    },
}

_LINE = re.compile(r"duration: ([0-9.]+) ms\s+(?:statement|execute [^:]*): (.*)", re.S)


def kind(sql: str) -> str:
    s = " ".join(sql.split()).lower()
    if s.startswith("delete from") and "insert into" in s:
        return "merge SQL batch (DELETE by key + INSERT ... SELECT with row_number dedup)"
    if s.startswith("merge into"):
        return "MERGE INTO (upsert)"
    for label, pat in (
        ("COPY (ADBC ingest)", r"^copy "),
        ("DELETE (merge: rows whose key is in staging)", r"^delete from"),
        ("INSERT ... SELECT (merge: dedup + insert from staging)", r"^insert into .* select"),
        ("INSERT (state, schema, loads bookkeeping)", r"^insert into"),
        ("CREATE/ALTER/DROP/TRUNCATE", r"^(create|alter|drop|truncate)"),
        ("UPDATE", r"^update"),
        ("SELECT", r"^(select|with)"),
        ("BEGIN/COMMIT/SET", r"^(begin|commit|rollback|set|start|show|savepoint|release)"),
    ):
        if re.search(pat, s):
            return label
    return "other: " + s[:60]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--strategy",
        choices=sorted(STRATEGIES),
        default="delete-insert",
        help="the merge strategy the bench source declares (el-dlt uses the source's own)",
    )
    args = ap.parse_args()
    wd = STRATEGIES[args.strategy]
    import psycopg
    from stacks_contract.models import RunRequest
    from stacks_el_dlt import DltStep
    from stacks_testing.postgres import postgres_server

    tbl = data.table(args.rows)
    items = lambda lv: sources.arrow_items(lambda: tbl, lv)  # noqa: E731
    out: list[str] = []
    with postgres_server() as srv:
        wh = srv.create_database("stmts")
        with psycopg.connect(srv.admin.url(), autocommit=True) as conn:
            conn.execute(f'alter database "{wh.database}" set log_min_duration_statement = 0')
            datadir = conn.execute("show data_directory").fetchone()[0]
        log = Path(datadir).parent / "log"  # the fixture's pg_ctl -l file
        first = DltStep(
            "orders",
            sources.orders(items, write_disposition=wd),
            pipelines_base_dir=tempfile.mkdtemp(),
        )
        reload = DltStep(
            "orders",
            sources.orders(items, incremental=False, write_disposition=wd),
            pipelines_base_dir=tempfile.mkdtemp(),
        )
        for label, step in (
            ("first load (merge + cursor)", first),
            ("merge re-load of the same rows", reload),
        ):
            start = log.stat().st_size if log.exists() else 0
            t0 = time.perf_counter()
            step.run(RunRequest(stack="bench"), wh)
            wall = time.perf_counter() - t0
            with psycopg.connect(wh.url()) as conn:
                n = conn.execute("select count(*) from raw.orders").fetchone()[0]
            if n != args.rows:
                raise SystemExit(f"{label}: raw.orders holds {n} rows, expected {args.rows}")
            time.sleep(0.5)  # let the logger flush
            with log.open("rb") as fh:
                fh.seek(start)
                text = fh.read().decode(errors="replace")
            sums: collections.Counter[str] = collections.Counter()
            counts: collections.Counter[str] = collections.Counter()
            # a statement may span lines: split on log-line prefixes
            for chunk in re.split(r"\n(?=\d{4}-\d\d-\d\d )", text):
                m = _LINE.search(chunk)
                if m:
                    k = kind(m.group(2))
                    sums[k] += float(m.group(1)) / 1000
                    counts[k] += 1
            out.append(
                f"== {label}, {args.strategy}: {n} rows in raw.orders, el-dlt wall {wall:.2f} s;"
                " server time:"
            )
            for k, secs in sums.most_common():
                out.append(f"  {secs:8.2f} s  {counts[k]:5d} x  {k}")
            out.append(f"  {sum(sums.values()):8.2f} s  total logged")
            out.append("")
    text = "\n".join(out)
    print(text)
    name = (
        "pg_statements.txt"
        if args.strategy == "delete-insert"
        else f"pg_statements_{args.strategy}.txt"
    )
    (HERE / "results" / name).write_text(text + "\n")


if __name__ == "__main__":
    main()
