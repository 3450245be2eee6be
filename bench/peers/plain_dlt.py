"""Plain dlt, as its docs set up a SQL database source, run by the bench's dlt peer venv:

    python plain_dlt.py --backend pyarrow|connectorx --source URL --dest URL|FILE.duckdb
                        --pipelines-dir DIR [--table orders]

With ``--table``: ``sql_table`` merged on ``id``, incremental on ``updated_at`` (what a user
declares for a keyed table); without: ``sql_database`` over the whole schema (views included),
each table replaced. dlt's defaults otherwise (its own loader file format per destination)."""

from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--dest", required=True)
    ap.add_argument("--pipelines-dir", required=True)
    ap.add_argument("--table")
    args = ap.parse_args()

    import dlt
    from dlt.sources.sql_database import sql_database, sql_table

    if args.dest.endswith(".duckdb"):
        destination = dlt.destinations.duckdb(args.dest)
    else:
        destination = dlt.destinations.postgres(args.dest)
    pipeline = dlt.pipeline(
        pipeline_name="plain",
        destination=destination,
        dataset_name="raw",
        pipelines_dir=args.pipelines_dir,
    )
    if args.table:
        table = sql_table(
            credentials=args.source,
            table=args.table,
            backend=args.backend,
            incremental=dlt.sources.incremental("updated_at"),
            primary_key="id",
            write_disposition="merge",
        )
        info = pipeline.run(table)
    else:
        source = sql_database(credentials=args.source, backend=args.backend, include_views=True)
        info = pipeline.run(source, write_disposition="replace")
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
