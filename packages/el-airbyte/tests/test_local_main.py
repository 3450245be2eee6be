"""``python -m stacks_el_airbyte.local``: the engine as a service a scheduler's workers talk to.
A restart without credentials in the environment keeps the credentials its clients were given."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

CONNECTIONS = """
connections:
  - name: shop
    source_manifest: shop
    source_config: {url: "http://127.0.0.1:9"}
    destination: duckdb:///{path}
    namespace: raw
    streams: [customers]
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(conns: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRBYTE_CLIENT")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stacks_el_airbyte.local", str(conns), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("AIRBYTE_CLIENT_ID="):
            return proc, "".join(lines)
    raise AssertionError("the engine did not start:\n" + "".join(lines))


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def _token(port: int, creds: dict[str, str]) -> int:
    return httpx.post(
        f"http://127.0.0.1:{port}/api/public/v1/applications/token",
        json={
            "client_id": creds["AIRBYTE_CLIENT_ID"],
            "client_secret": creds["AIRBYTE_CLIENT_SECRET"],
        },
    ).status_code


def test_a_restart_keeps_the_client_credentials(tmp_path: Path) -> None:
    conns = tmp_path / "connections.yaml"
    conns.write_text(CONNECTIONS.replace("{path}", str(tmp_path / "w.duckdb")))
    port = _port()
    proc, printed = _serve(conns, port)
    try:
        file = tmp_path / "airbyte-credentials.env"
        assert file.stat().st_mode & 0o777 == 0o600
        creds = dict(line.split("=", 1) for line in file.read_text().splitlines())
        assert creds["AIRBYTE_CLIENT_SECRET"] not in printed, "the secret reached the terminal"
        assert _token(port, creds) == 200
    finally:
        _stop(proc)
    proc, _ = _serve(conns, port)
    try:
        assert _token(port, creds) == 200, "a restart minted new credentials: clients get 401"
        again = dict(line.split("=", 1) for line in file.read_text().splitlines())
        assert again == creds
    finally:
        _stop(proc)
