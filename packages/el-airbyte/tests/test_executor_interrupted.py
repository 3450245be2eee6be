"""A sync killed after a committed batch, or cancelled between batches, converges on the next
sync: no row lost, none duplicated (deduplicated streams), committed batches kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from stacks_contract.warehouse import Warehouse
from stacks_core.sql import connect
from stacks_el_airbyte.local import destination
from stacks_el_airbyte.local.executor import CdkExecutor
from stacks_el_airbyte.local.model import AIRBYTE_COLUMNS, JobContext, SyncCancelled

CHILD = Path(__file__).with_name("airbyte_child.py")
STREAMS = ("customers", "products", "orders", "payments")


def rows_of(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with connect(wh) as c:
        for name in STREAMS:
            if not c.table_exists("raw", name):
                out[name] = []
                continue
            cols = [n for n in c.columns("raw", name) if n not in AIRBYTE_COLUMNS]
            listed = ", ".join(f'"{n}"' for n in cols)
            out[name] = c.execute(f"select {listed} from raw.{name} order by id")
    return out


def kept(wh: Warehouse) -> int:
    return sum(len(r) for r in rows_of(wh).values())


def test_a_killed_sync_resumes_without_duplicates_or_loss(
    shop, warehouse, warehouse_factory, connect_shop
):
    dump = warehouse.model_dump(mode="json", by_alias=True)
    if "password" in dump:
        dump["password"] = warehouse.password.get_secret_value()
    args = {"url": shop.url, "warehouse": dump, "page_size": 20, "batch_size": 30}
    child = subprocess.Popen(
        [sys.executable, str(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(args))
    child.stdin.close()
    try:
        line = child.stdout.readline()
        assert line.strip() == "COMMITTED", line
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    total = sum(shop.counts().values())
    assert 0 < kept(warehouse) < total  # the first batch stayed, the rest never came

    CdkExecutor(batch_size=30).run(connect_shop(page_size=20), JobContext(2, "sync"))
    reference = warehouse_factory()
    CdkExecutor().run(connect_shop(to=reference), JobContext(1, "sync"))
    assert rows_of(warehouse) == rows_of(reference)
    assert kept(warehouse) == total


def test_a_cancelled_sync_keeps_its_committed_batches(
    shop, warehouse, warehouse_factory, connect_shop, monkeypatch: pytest.MonkeyPatch
):
    job = JobContext(1, "sync")
    original = destination.Destination.transaction

    @contextmanager
    def then_cancel(self: destination.Destination):  # the user cancels after the first batch
        with original(self):
            yield
        job.cancelled.set()

    monkeypatch.setattr(destination.Destination, "transaction", then_cancel)
    with pytest.raises(SyncCancelled):
        CdkExecutor(batch_size=30).run(connect_shop(page_size=20), job)
    monkeypatch.undo()
    total = sum(shop.counts().values())
    assert 0 < kept(warehouse) < total

    CdkExecutor().run(connect_shop(), JobContext(2, "sync"))
    reference = warehouse_factory()
    CdkExecutor().run(connect_shop(to=reference), JobContext(1, "sync"))
    assert rows_of(warehouse) == rows_of(reference)
