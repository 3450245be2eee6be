"""The measuring harness every case shares: CPU-aware timers, the ``Bench`` fixture (throwaway
Postgres databases, DuckDB files, el-dlt steps) and small helpers. No case lives here."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import refs  # noqa: E402

for _k, _v in {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    # dlt imports Airflow when it is installed: give Airflow a home before anything does
    "AIRFLOW_HOME": str(Path(tempfile.gettempdir()) / "stacks-bench-airflow"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}.items():
    os.environ.setdefault(_k, _v)


class Unavailable(Exception):
    """A case cannot run yet (its package has not landed); the reason goes in the results."""


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


class T(float):
    """Wall seconds, carrying ``cpu``: CPU seconds spent meanwhile by this process, its waited
    children and the bench's own Postgres cluster. On a shared machine wall time stretches with
    other people's load; CPU time mostly does not, so every ratio is also reported on CPU."""

    cpu: float = float("nan")


def make_t(wall: float, cpu: float) -> T:
    t = T(wall)
    t.cpu = cpu
    return t


class CpuMeter:
    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.postmaster: Any = None

    def attach_postgres(self, url: str) -> None:
        import psutil
        import psycopg

        with psycopg.connect(url) as conn:
            pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        self.postmaster = psutil.Process(pid).parent()

    def backends(self) -> set[int]:
        if self.postmaster is None:
            return set()
        with contextlib.suppress(Exception):
            return {c.pid for c in self.postmaster.children()}
        return set()

    def settle(self, before: set[int], limit: float = 3.0) -> None:
        """Wait (untimed) until backends started during a measurement have exited and been
        reaped: a closed connection's backend exits a moment later, and only then does its CPU
        reach the postmaster's children_* counters; without this it lands in the next window."""
        if self.postmaster is None:
            return
        import psutil

        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                kids = self.postmaster.children()
                zombie = any(k.status() == psutil.STATUS_ZOMBIE for k in kids)
                if not zombie and {k.pid for k in kids} <= before:
                    return
            except Exception:
                pass
            time.sleep(0.02)

    def now(self) -> float:
        t = self.me.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        pm = self.postmaster
        if pm is not None:
            # exited backends are reaped by the postmaster: their CPU lands in its children_*
            with contextlib.suppress(Exception):
                t = pm.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
                for child in pm.children():
                    with contextlib.suppress(Exception):
                        ct = child.cpu_times()
                        total += ct.user + ct.system
        return total


METER = CpuMeter()


def timed(fn: Callable[[], Any]) -> tuple[T, Any]:
    before = METER.backends()
    c0 = METER.now()
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    METER.settle(before)
    return make_t(wall, METER.now() - c0), out


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: int = args.rows
        self.repeat: int = args.repeat
        # dbt and Dagster cases cost seconds of fixed overhead per repeat: fewer in --quick
        self.repeat_heavy: int = 1 if args.quick else args.repeat
        self.tmp = Path(tempfile.mkdtemp(prefix="stacks-bench-"))
        self.out: dict[str, Any] = {}
        self.notes: list[str] = []
        self.srv: Any = None
        self._n = 0
        #: the generated rows (``data.table``), their dict pages (built on first use) and their
        #: pre-encoded binary COPY stream: set by the runner before any case
        self.tbl: Any = None
        self.pages: Any = None
        self.copy_payload: bytes = b""

    # --- fixtures ------------------------------------------------------------------------------

    def pg(self, prefix: str = "b") -> Any:
        return self.srv.create_database(prefix)

    def duck(self, name: str) -> Any:
        from stacks_contract.warehouse import DuckDBWarehouse

        self._n += 1
        return DuckDBWarehouse(path=self.tmp / f"{name}-{self._n}.duckdb")

    def workdir(self) -> Path:
        self._n += 1
        p = self.tmp / f"dlt-{self._n}"
        p.mkdir()
        return p

    def record(self, key: str, value: Any) -> None:
        self.out[key] = value

    def samples(self, key: str, xs: list[float]) -> float:
        self.out[key + "_samples"] = [round(x, 4) for x in xs]
        m = median(xs)
        self.out[key] = round(m, 4)
        if xs and all(isinstance(x, T) for x in xs):
            cpu = [x.cpu for x in xs]  # type: ignore[attr-defined]
            self.out[key + "_cpu_samples"] = [round(x, 4) for x in cpu]
            self.out[key + "_cpu"] = round(median(cpu), 4)
        return m

    def ratio(self, key: str, nums: list[T], dens: list[T]) -> float:
        """Median of per-pair ratios (wall); the same on CPU seconds under ``<key>_cpu``."""
        r = self.samples(key, [n / d for n, d in zip(nums, dens, strict=True)])
        cpu = [n.cpu / d.cpu for n, d in zip(nums, dens, strict=True) if d.cpu > 0]
        if cpu:
            self.out[key + "_cpu"] = round(median(cpu), 4)
            self.out[key + "_cpu_samples"] = [round(x, 4) for x in cpu]
        return r

    def copy_ref(self, pk: bool = False) -> T:
        wh = self.pg("ref")
        t, s = timed(lambda: refs.pg_copy_binary(wh.url(), "raw", self.copy_payload, pk))
        self.srv.drop_database(wh.database)
        return make_t(s, t.cpu)  # wall as timed inside (create + copy + commit)

    # --- helpers around el-dlt -------------------------------------------------------------------

    def dlt_step(self, factory: Callable[[], Any], name: str = "orders") -> Any:
        try:
            from stacks_el_dlt import DltStep
        except ImportError as exc:
            raise Unavailable(f"stacks_el_dlt.DltStep is not importable ({exc})") from None
        return DltStep(name, factory, pipelines_base_dir=self.workdir())

    def run_step(self, step: Any, wh: Any, expect_rows: int | None = None) -> tuple[T, Any]:
        from stacks_contract.models import RunRequest

        s, result = timed(lambda: step.run(RunRequest(stack="bench"), wh))
        got = result.rows.get("raw.orders", 0)
        if expect_rows is not None and got != expect_rows:
            raise RuntimeError(
                f"el-dlt reported {got} rows into raw.orders, expected {expect_rows}"
            )
        return s, result

    def count(self, wh: Any, where: str = "") -> int:
        from stacks_core.sql import connect

        conn = connect(wh)
        try:
            return conn.execute(f"select count(*) from raw.orders {where}")[0][0]
        finally:
            conn.close()

    def has_pk(self, wh: Any) -> bool:
        from stacks_core.sql import connect

        conn = connect(wh)
        try:
            rows = conn.execute(
                "select count(*) from information_schema.table_constraints where "
                "table_schema = 'raw' and table_name = 'orders' and constraint_type = 'PRIMARY KEY'"
            )
            return bool(rows[0][0])
        finally:
            conn.close()


def trace_split(step: Any, wh: Any) -> dict[str, float]:
    """extract / normalize / load seconds of the step's last dlt run (from dlt's own trace)."""
    try:
        # el-dlt extracts first and normalizes + loads only when there is something to load:
        # two dlt traces per run (``DltStep.last_traces``)
        traces = getattr(step, "last_traces", ()) or (step.dlt_pipeline(wh).last_trace,)
        return {
            s.step: round((s.finished_at - s.started_at).total_seconds(), 3)
            for trace in traces
            for s in trace.steps
            if s.step in ("extract", "normalize", "load")
        }
    except Exception:
        return {}


# --- cases ---------------------------------------------------------------------------------------


def user_env() -> dict[str, str]:
    """The environment for a whole-process measurement, as a user's shell has it: Python writes
    and reuses its bytecode cache (this machine exports PYTHONDONTWRITEBYTECODE=1, which makes
    every process compile each module it imports from source)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@contextlib.contextmanager
def wh_conn(wh: Any) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(wh.url(), autocommit=True) as conn:
        yield conn


def direct_stack_run(stack: Any, wh: Any) -> T:
    """The stack's EL steps and transform called one after another, no orchestrator (timed)."""
    from stacks_contract.models import RunRequest

    with stack.session(wh):
        spec = stack.spec(wh)
        req = RunRequest(stack=stack.name)

        def go() -> None:
            for step in spec.el_steps:
                step.run(req, wh)
            if spec.transform is not None:
                result = spec.transform.run(req, wh)
                if not result.ok:
                    raise RuntimeError("direct transform failed")

        s, _ = timed(go)
    return s


@contextlib.contextmanager
def big_shop(b: Bench) -> Iterator[Any]:
    """The demo shop at ``--shop-orders`` orders (a tenth as many customers), as the shop
    stacks' sessions use it (``STACKS_SHOP_URL``)."""
    from stacks_demo.shop import ShopServer

    n = b.args.shop_orders
    b.record("shop_orders", n)
    with ShopServer(seed=42, orders=n, customers=max(50, n // 10), products=200) as shop:
        b.record("shop_rows", shop.counts())
        os.environ["STACKS_SHOP_URL"] = shop.url
        try:
            yield shop
        finally:
            os.environ.pop("STACKS_SHOP_URL", None)
