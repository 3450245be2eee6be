"""`stacks ui dagster-dlt-dbt` as a user runs it: the Dagster UI answers on the port asked for,
on the stack's warehouse and demo shop, with its instance in ./.stacks/dagster (telemetry off);
Ctrl-C (SIGINT) stops every process it started and frees the port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from stacks_el_dlt.sources.demo_shop import SHOP_URL_ENV

BIN = Path(sys.executable).parent
UP_SECONDS = 300  # loading the definitions parses the dbt project; slow on a busy machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"} if data else {}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


@pytest.mark.slow
def test_stacks_ui_serves_dagster_and_sigint_stops_everything(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (SHOP_URL_ENV, "STACKS_WAREHOUSE", "DAGSTER_HOME")
    }
    log = (tmp_path / "ui.log").open("w+")
    proc = subprocess.Popen(
        [str(BIN / "stacks"), "ui", "dagster-dlt-dbt", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    started: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + UP_SECONDS
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            status, body = _get(f"http://127.0.0.1:{port}/server_info")
            if status == 200:
                break
            time.sleep(1)
        log.seek(0)
        output = log.read()
        assert status == 200, f"the UI did not answer in {UP_SECONDS}s:\n{output[-3000:]}"
        assert "dagster_webserver_version" in body
        assert f"dagster UI for dagster-dlt-dbt on http://127.0.0.1:{port}" in output
        started = psutil.Process(proc.pid).children(recursive=True)

        # the UI shows this stack's assets, on the same warehouse and shop as `stacks run`
        query = json.dumps({"query": "{ assetNodes { assetKey { path } } }"}).encode()
        status, body = _get(f"http://127.0.0.1:{port}/graphql", query)
        assert status == 200 and '"fct_orders"' in body and '"orders"' in body, body[:2000]
        (dev,) = psutil.Process(proc.pid).children()
        dev_env = dev.environ()
        assert dev_env["STACKS_WAREHOUSE"].startswith(
            f"duckdb://{tmp_path / '.stacks' / 'dagster-dlt-dbt.duckdb'}"
        )
        shop_status, _ = _get(dev_env[SHOP_URL_ENV] + "/customers")
        assert shop_status == 200, "the stack's demo shop is not running"
        home = tmp_path / ".stacks" / "dagster"
        assert dev_env["DAGSTER_HOME"] == str(home)
        assert "enabled: false" in (home / "dagster.yaml").read_text()

        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=90) == 0
        _, alive = psutil.wait_procs(started, timeout=30)
        assert not alive, f"still running after Ctrl-C: {[p.cmdline() for p in alive]}"
        # the port is free again: nothing answers, and a new server can bind it (our own
        # closed connections may linger in TIME_WAIT, which SO_REUSEADDR is for)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        log.seek(0)
        assert "Traceback" not in log.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in started:
            if p.is_running():
                p.kill()
        log.close()
