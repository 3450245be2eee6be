"""A CSV read by a dlt resource yielding one dict per row (as a user's first resource does, and
`stacks init`'s scaffold), loaded by el-dlt's ``DltStep`` or by plain dlt, in this process:

    python bench/row_child.py --tool stacks|dlt --csv FILE --warehouse FILE.duckdb --workdir DIR

Merge on ``id``; every value a string, as ``csv.DictReader`` gives it. Prints the rows loaded."""

from __future__ import annotations

import argparse
import csv
from typing import Any


def resource(path: str) -> Any:
    import dlt

    @dlt.resource(name="rows", primary_key="id", write_disposition="merge")
    def rows() -> Any:
        with open(path, newline="") as f:
            yield from csv.DictReader(f)

    return rows()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=["stacks", "dlt"], required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    if args.tool == "dlt":
        import dlt

        pipeline = dlt.pipeline(
            pipeline_name="rows",
            destination=dlt.destinations.duckdb(args.warehouse),
            dataset_name="raw",
            pipelines_dir=args.workdir,
        )
        pipeline.run(resource(args.csv)).raise_on_failed_jobs()
        return
    from stacks_contract import RunRequest, parse_warehouse
    from stacks_el_dlt import DltStep

    step = DltStep("rows", lambda: resource(args.csv), pipelines_base_dir=args.workdir)
    step.run(RunRequest(stack="bench"), parse_warehouse(args.warehouse))


if __name__ == "__main__":
    main()
