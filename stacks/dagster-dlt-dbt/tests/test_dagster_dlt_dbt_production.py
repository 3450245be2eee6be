"""The stack as a Dagster deployment runs it (README "Deploy with Dagster"): a gRPC code server per
code location (the stack on DuckDB, the stack on Postgres), dagster-webserver and dagster-daemon
from one workspace.yaml, the instance configured as the README's dagster.yaml. Four ways a run
starts: a run launched through the UI's GraphQL API, a sensor firing, the daemon's scheduled
tick, ``dagster asset materialize``. Each lands in its warehouse's ledger exactly once, with the
contract's run id and trigger, shows in the UI under that id, and the warehouse ends equal to a
clean run's."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster_deployment import BIN, Deployment, Location
from stacks_contract.models import RunRequest, RunStatus, TriggerKind
from stacks_contract.triggers import cron_token, probe_source, trigger_request
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.fingerprint import diff, portable_fingerprint
from stacks_core.ledger import Ledger
from stacks_dagster_dlt_dbt import NAME, build_stack
from stacks_dagster_dlt_dbt.stack import DAILY
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.shop import ShopServer
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

MODULE = "stacks_dagster_dlt_dbt.definitions"
README = Path(__file__).resolve().parents[1] / "README.md"
#: the shop project's models, by name: what every full run's ledger row must list
MODELS = tuple(sorted(p.stem for p in SHOP_DBT_PROJECT.glob("models/*/*.sql")))
JOB = "dagster_dlt_dbt"
SENSOR = "dagster_dlt_dbt_on_shop_change"
SCHEDULE = "dagster_dlt_dbt_daily_at_0600"


def readme_file(name: str) -> str:
    """What the README's ``cat > ".../NAME" <<'EOF'`` writes: the file users copy."""
    text = README.read_text()
    start = text.index("\n", text.index(f"/{name}\" <<'EOF'")) + 1
    return text[start : text.index("\nEOF\n", start) + 1]


def warehouse_url(wh: Warehouse) -> str:
    if isinstance(wh, DuckDBWarehouse):
        return f"duckdb:///{wh.path}"
    return f"{wh.url()}?schema={wh.schema_name}"


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopServer]:
    with ShopServer(seed=42) as server:
        yield server


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """The module's own folder: its servers outlive pytest's numbered temp folders, which
    other pytest sessions of this user may prune while they run."""
    with tempfile.TemporaryDirectory(prefix="stacks-dagster-deployment-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def warehouses(postgres_server, folder: Path) -> Iterator[dict[str, Warehouse]]:
    pg = postgres_server.create_database()
    duck = DuckDBWarehouse(path=folder / "shop.duckdb")
    try:
        yield {"duckdb": duck, "postgres": pg}
    finally:
        postgres_server.drop_database(pg.database)


@pytest.fixture(scope="module")
def deployment(shop, warehouses, folder: Path) -> Iterator[Deployment]:
    home = folder / "dagster_home"
    home.mkdir()
    locations = [
        Location(
            f"shop_{kind}",
            MODULE,
            {"STACKS_WAREHOUSE": warehouse_url(wh), SHOP_URL_ENV: shop.url},
        )
        for kind, wh in warehouses.items()
    ]
    dep = Deployment(home, locations, readme_file("dagster.yaml"))
    try:
        yield dep.start(daemon=False)  # the test starts it: see below
    except BaseException:
        for name in dep.procs:
            print(f"--- {name}\n{dep.tail(name)}")
        raise
    finally:
        dep.stop()


def _runs(dep: Deployment) -> list[dict]:
    data = dep.graphql(
        "{ runsOrError { ... on Runs { results { runId jobName status tags { key value } } } } }"
    )
    return [
        {**r, "tags": {t["key"]: t["value"] for t in r["tags"]}}
        for r in data["runsOrError"]["results"]
    ]


def _last_tick(now: datetime) -> datetime:
    """The daily 06:00 UTC tick the daemon last had to fire."""
    tick = now.replace(hour=6, minute=0, second=0, microsecond=0)
    return tick if tick <= now else tick - timedelta(days=1)


def _backdate_schedule(home: Path, name: str, since: datetime) -> None:
    """As if the schedule had been on since ``since`` and the daemon down over its tick: the
    daemon catches the missed tick up (``max_catchup_runs``) as soon as it looks."""
    from dagster import DagsterInstance
    from dagster._core.scheduler.instigation import InstigatorType, ScheduleInstigatorData

    with DagsterInstance.from_config(str(home)) as instance:
        states = instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        for state in states:
            if state.name == name and state.is_running:
                data = state.instigator_data
                instance.update_instigator_state(
                    state.with_data(
                        ScheduleInstigatorData(
                            cron_schedule=data.cron_schedule, start_timestamp=since.timestamp()
                        )
                    )
                )


def test_every_way_a_run_starts_lands_in_the_ledger_once(
    deployment: Deployment,
    warehouses: dict[str, Warehouse],
    shop: ShopServer,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dep = deployment
    monkeypatch.setenv(SHOP_URL_ENV, shop.url)
    locations = {f"shop_{kind}": wh for kind, wh in warehouses.items()}

    def finished(n: int) -> bool:
        return all(
            len([r for r in Ledger(wh).runs(NAME) if r.status != RunStatus.RUNNING]) >= n
            for wh in locations.values()
        )

    def settled(n: int) -> bool:
        runs = _runs(dep)
        done = ("SUCCESS", "FAILURE", "CANCELED")
        return finished(n) and len(runs) == 2 * n and all(r["status"] in done for r in runs)

    # While the daemon is down (a deploy, a restart): the UI's launch button (GraphQL) queues a
    # run, the source-change sensor and the schedule are switched on, and the schedule's 06:00
    # tick passes. The daemon, once up, launches the queued run, catches the missed tick up
    # and ticks the sensor; the run queue runs one run per warehouse at a time.
    tick = _last_tick(datetime.now(UTC))
    for loc in locations:
        dep.mutate(
            "launchRun",
            "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
            "... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }",
            {"p": {"selector": dep.selector(loc, jobName=JOB), "runConfigData": {}}},
        )
        dep.mutate(
            "startSensor",
            "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
            "... on PythonError { message } } }",
            {"s": dep.selector(loc, sensorName=SENSOR)},
        )
        dep.mutate(
            "startSchedule",
            "mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { "
            "__typename ... on PythonError { message } } }",
            {"s": dep.selector(loc, scheduleName=SCHEDULE)},
        )
    _backdate_schedule(dep.home, SCHEDULE, tick - timedelta(minutes=1))
    dep.start_daemon()
    try:
        dep.wait(lambda: settled(3), 900, "three finished runs per warehouse", every=2)

        # `dagster asset materialize` (no daemon involved in the run), both warehouses at once
        procs = {
            loc: subprocess.Popen(
                [str(BIN / "dagster"), "asset", "materialize", "--select", "*", "-m", MODULE],
                env=dep.env(dep.locations[loc].env),
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for loc in locations
        }
        for loc, proc in procs.items():
            out, _ = proc.communicate(timeout=1200)  # loads the code in every step process
            assert proc.returncode == 0, f"asset materialize ({loc}):\n{out.decode()[-3000:]}"
        dep.wait(lambda: settled(4), 300, "the materialize runs' ledger rows", every=2)
    except (AssertionError, subprocess.TimeoutExpired):
        for name in dep.procs:
            print(f"--- {name}\n{dep.tail(name)}")
        raise

    # the runs as Dagster shows them: under the stacks run id, the jobs named after the stack
    spec = build_stack().spec(next(iter(locations.values())))
    expected_ids = {
        TriggerKind.SCHEDULE: trigger_request(spec, DAILY, cron_token(tick)).run_id,
        TriggerKind.SOURCE_CHANGE: trigger_request(
            spec, spec.triggers[1], probe_source(spec.step("shop"), None).version
        ).run_id,
    }
    runs = _runs(dep)
    clean = DuckDBWarehouse(path=folder / "clean.duckdb")
    with build_stack().session(clean):
        record = build_stack().orchestrator().run(spec, RunRequest(stack=NAME), clean)
    assert record.status == RunStatus.SUCCEEDED, record.error
    assert (record.steps, record.models) == (("shop",), MODELS), record
    tables = [*spec.el_steps[0].produces(), *spec.transform.produces()]
    want = portable_fingerprint(clean, tables, metadata=spec.metadata_columns())

    for loc, wh in locations.items():
        mine = [r for r in runs if r["tags"].get("stacks/warehouse") == wh.redacted_url()]
        assert len(mine) == 4, f"{loc}: {[(r['jobName'], r['tags']) for r in runs]}"
        assert all(r["status"] == "SUCCESS" for r in mine), mine
        by_job: dict[str, list[str]] = {}
        for r in mine:
            by_job.setdefault(r["jobName"], []).append(r["tags"]["stacks/run_id"])
        # the CLI's implicit job, the UI's and the schedule's run of the stack's job, the sensor's
        counts = {job: len(ids) for job, ids in by_job.items()}
        assert counts == {"__ASSET_JOB": 1, JOB: 2, f"{JOB}_shop_and_downstream": 1}, counts

        ledger = {r.run_id: r for r in Ledger(wh).runs(NAME)}
        assert sorted(ledger) == sorted(r["tags"]["stacks/run_id"] for r in mine), (
            f"{loc}: the ledger has other runs than Dagster: {sorted(ledger)}"
        )
        triggers = {r.trigger: r.run_id for r in ledger.values() if r.trigger != "manual"}
        assert triggers == expected_ids, f"{loc}: {triggers}"
        manual = [r for r in ledger.values() if r.trigger == TriggerKind.MANUAL]
        assert len(manual) == 2
        for r in manual:  # the contract's shape; its digits are Dagster's short run id
            dagster_id = next(d["runId"] for d in mine if d["tags"]["stacks/run_id"] == r.run_id)
            assert re.fullmatch(rf"\d{{8}}T\d{{6}}-{dagster_id[:8]}", r.run_id), r.run_id
        for r in ledger.values():
            assert r.status == RunStatus.SUCCEEDED, (loc, r)
            assert r.orchestrator == "dagster" and r.steps == record.steps, (loc, r)
            assert r.models == record.models, (loc, r.run_id, r.models)
            assert (r.tests_passed, r.tests_failed) == (record.tests_passed, 0), (loc, r)
            assert r.finished_at is not None and r.finished_at >= r.started_at
        assert sum(sum(r.rows.values()) for r in ledger.values()) == 446, (
            f"{loc}: only the first run loads rows: {[r.rows for r in ledger.values()]}"
        )
        got = portable_fingerprint(wh, tables, metadata=spec.metadata_columns())
        assert got == want, f"{loc}: {diff(want, got)}"
