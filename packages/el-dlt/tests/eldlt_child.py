"""A DltStep over a JSON file of orders, rebuildable in a fresh interpreter.

Used in-process by the conformance harness and as a subprocess by the SIGKILL tests:

    STACKS_RUNNER_WAREHOUSE=<json> ELDLT_DATA=<file> [ELDLT_KILL=<point>] python eldlt_child.py

``ELDLT_KILL`` makes the process SIGKILL itself at one named point inside dlt (see ``KILLS``).
Not a test module (no ``test_`` prefix): pytest never collects it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import dlt  # imported before the runner prints READY, so kill points land in the run itself
from stacks_el_dlt import DltStep

DATA_ENV = "ELDLT_DATA"
KILL_ENV = "ELDLT_KILL"


def orders_factory(path: Path):
    def make() -> Any:
        @dlt.resource(
            name="orders",
            primary_key="id",
            write_disposition="merge",
            nested_hints={"items": {}},
            columns={"amount": {"data_type": "double"}},
        )
        def orders(updated_at=dlt.sources.incremental("updated_at", initial_value=0)):  # noqa: B008
            rows = json.loads(path.read_text())
            since = updated_at.last_value or 0
            # pages of 50, so a run has several items in flight when it is killed
            page = [r for r in rows if r["updated_at"] >= since]
            for i in range(0, len(page), 50):
                yield page[i : i + 50]

        return orders()

    return make


class JsonOrdersStep(DltStep):
    incremental = True


def make_step(path: str | os.PathLike[str] | None = None) -> DltStep:
    data = Path(path or os.environ[DATA_ENV])
    return JsonOrdersStep("orders", orders_factory(data))


def write_orders(path: Path, n: int, *, version: int = 0) -> None:
    rows = [
        {
            "id": i,
            "status": "placed" if version == 0 or i % 3 else f"v{version}",
            "amount": float(i),
            "updated_at": 1 + (version if i % 3 == 0 else 0),
            "items": [{"line": k, "sku": f"sku-{i}-{k}"} for k in range(1, 1 + i % 4)],
        }
        for i in range(1, n + 1)
    ]
    path.write_text(json.dumps(rows))


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill(point: str) -> None:
    """Patch dlt so this process SIGKILLs itself at ``point``."""
    from dlt.common.destination.client import RunnableLoadJob
    from dlt.load.load import Load
    from dlt.pipeline.pipeline import Pipeline

    if point == "after_extract":  # extracted package + new cursor on disk, nothing normalized
        original_normalize = Pipeline.normalize

        def normalize(self, *a: Any, **kw: Any) -> Any:
            if self.list_extracted_load_packages():
                _die()
            return original_normalize(self, *a, **kw)

        Pipeline.normalize = normalize  # type: ignore[method-assign]
    elif point == "after_normalize":  # load package ready, nothing loaded
        original_load_package = Load.load_single_package

        def load_single_package(self, *a: Any, **kw: Any) -> Any:
            _die()

        Load.load_single_package = load_single_package  # type: ignore[method-assign]
        del original_load_package
    elif point == "after_first_table":  # one table's data committed, the rest (and state) not
        original_run = RunnableLoadJob.run_managed

        def run_managed(self, *a: Any, **kw: Any) -> Any:
            result = original_run(self, *a, **kw)
            if not self._parsed_file_name.table_name.startswith("_dlt"):
                _die()
            return result

        RunnableLoadJob.run_managed = run_managed  # type: ignore[method-assign]
    elif point == "before_load_commit":  # data and state rows committed, _dlt_loads not (#4052)
        from dlt.destinations.job_client_impl import SqlJobClientBase

        def complete_load(self, load_id: str) -> None:
            _die()

        SqlJobClientBase.complete_load = complete_load  # type: ignore[method-assign]
    elif point == "during_drop":  # a pending package wiped, the rest of its folder not yet
        _kill_after_package_folder_removed()
    else:
        raise SystemExit(f"unknown kill point {point!r}")


def _kill_after_package_folder_removed() -> None:
    """SIGKILL right after the first load package folder (named by its load id) is removed.

    In a run that starts with a pending package this lands inside the wipe of dlt's working
    folder (``DltStep.dlt_pipeline``): ``shutil.rmtree`` removes entries one by one, and before
    the wipe was made atomic, the folder kept ``state.json`` (the killed extract's cursor)
    with no package left to load.
    """
    real_rmdir = os.rmdir

    def rmdir(path: Any, *a: Any, **kw: Any) -> None:
        real_rmdir(path, *a, **kw)
        # rmtree passes bare names relative to a dir_fd; a load id is a float-like timestamp
        name = os.path.basename(os.fsdecode(path))
        if name.replace(".", "", 1).isdigit() and "." in name:
            _die()

    os.rmdir = rmdir  # type: ignore[assignment]


KILLS = (
    "after_extract",
    "after_normalize",
    "after_first_table",
    "before_load_commit",
    "during_drop",
)


def main() -> None:
    from stacks_contract import RunRequest
    from stacks_testing.runner import warehouse_from_env

    warehouse = warehouse_from_env()
    step = make_step()
    if point := os.environ.get(KILL_ENV):
        install_kill(point)
    result = step.run(RunRequest(stack="fault"), warehouse)
    print("DONE", result.model_dump_json(), flush=True)


if __name__ == "__main__":
    main()
