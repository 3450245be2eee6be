"""One el-dlt run in a fresh process, timing what happens before the source's first row.

    python bench/el_fixed_child.py --warehouse URL --workdir DIR

Prints one JSON line of wall-clock marks (``time.time()``, so the parent can add the
interpreter's start-up): imports, step construction, and inside ``DltStep.run`` the entry and exit
of ``dlt_pipeline``, dlt's ``sync_destination``, ``dlt_source``, and the first row the source
yields. The source is a small keyed dict resource (100 rows, merge on ``id``), a step that ran
before (dlt's state exists locally and in the warehouse): what every scheduled run, Airflow task
or Temporal activity in a new process pays.
"""

import time

T0 = time.time()

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
from typing import Any  # noqa: E402

MARKS: dict[str, float] = {"interpreter": T0}


def mark(key: str) -> None:
    MARKS.setdefault(key, time.time())


def wrap(cls: Any, name: str, key: str) -> None:
    fn = getattr(cls, name, None)
    if fn is None:
        return

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        mark(f"{key}_start")
        try:
            return fn(*args, **kwargs)
        finally:
            mark(f"{key}_end")
            if name == "dlt_pipeline":  # dlt is imported now: time its sync too
                from dlt.pipeline.pipeline import Pipeline

                if not getattr(Pipeline.sync_destination, "_bench_timed", False):
                    wrap(Pipeline, "sync_destination", "sync")

    timed._bench_timed = True  # type: ignore[attr-defined]
    setattr(cls, name, timed)


def factory() -> Any:
    import dlt

    @dlt.resource(name="orders", primary_key="id", write_disposition="merge")
    def orders() -> Any:
        mark("first_row")
        MARKS.setdefault("cpu_first_row", time.process_time())
        yield [{"id": i, "amount": i * 1.5, "status": "new"} for i in range(100)]

    return orders


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouse", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    mark("script")
    from stacks_contract.models import RunRequest
    from stacks_contract.warehouse import parse_warehouse

    mark("import_contract")
    from stacks_el_dlt import DltStep

    mark("import_el_dlt")
    wrap(DltStep, "dlt_pipeline", "pipeline")
    wrap(DltStep, "dlt_source", "source")
    wh = parse_warehouse(args.warehouse)
    wrap(DltStep, "refresh_mode", "refresh")
    step = DltStep("orders", factory, pipelines_base_dir=args.workdir)
    mark("step_built")
    mark("run_start")
    result = step.run(RunRequest(stack="bench"), wh)
    mark("run_end")
    MARKS["rows"] = float(result.total_rows)
    print(json.dumps(MARKS))


if __name__ == "__main__":
    main()
