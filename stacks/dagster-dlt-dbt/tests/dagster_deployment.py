"""A Dagster deployment as its docs describe it, started by a test: one gRPC code server per code
location (``dagster code-server start``), ``dagster-webserver`` and ``dagster-daemon`` reading a
``workspace.yaml``, an instance (``dagster.yaml``) of their own; GraphQL to drive it as the UI
does. Every process runs in its own session and is stopped with its group."""

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent
REPO = "__repository__"  # the repository name of a code location loaded from Definitions


def _die_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, so a killed test leaves no servers."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (Linux)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Location:
    """A code location: ``module`` served by a code server with ``env`` (the warehouse URL)."""

    name: str
    module: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)


class Deployment:
    def __init__(self, home: Path, locations: list[Location], instance_yaml: str) -> None:
        self.home = home
        self.locations = {loc.name: loc for loc in locations}
        self.instance_yaml = instance_yaml
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs = home.parent / f"{home.name}-logs"  # not in DAGSTER_HOME: Dagster's
        self.last_error = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, extra: Mapping[str, str] = {}) -> dict[str, str]:
        return {**os.environ, "DAGSTER_HOME": str(self.home), **extra}

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> None:
        with open(self.logs / f"{name}.log", "wb") as out:
            self.procs[name] = subprocess.Popen(
                argv,
                env=dict(env),
                cwd=self.home,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def start(self, timeout: float = 600, *, daemon: bool = True) -> Deployment:
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(self.instance_yaml)
        workspace = {
            "load_from": [
                {"grpc_server": {"host": "127.0.0.1", "port": loc.port, "location_name": name}}
                for name, loc in self.locations.items()
            ]
        }
        (self.home / "workspace.yaml").write_text(yaml.safe_dump(workspace, sort_keys=False))
        # the instance's storage exists before its services start: created by several at once,
        # SQLite storage ends with two alembic heads (as the README says: dagster instance migrate)
        subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            env=self.env(),
            check=True,
            capture_output=True,
        )
        for name, loc in self.locations.items():
            argv = [str(BIN / "dagster"), "code-server", "start", "-m", loc.module]
            argv += ["-h", "127.0.0.1", "-p", str(loc.port), "--location-name", name]
            self._spawn(f"code-server-{name}", argv, self.env(loc.env))
        ws = str(self.home / "workspace.yaml")
        self._spawn(
            "webserver",
            [str(BIN / "dagster-webserver"), "-w", ws, "-h", "127.0.0.1", "-p", str(self.port)],
            self.env(),
        )
        if daemon:
            self.start_daemon()
        self.wait(self._loaded, timeout, "the code locations to load")
        return self

    def start_daemon(self) -> None:
        ws = str(self.home / "workspace.yaml")
        self._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", ws], self.env())

    def _loaded(self) -> bool:
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
            )
        except OSError as exc:
            self.last_error = str(exc)
            return False
        entries = data["workspaceOrError"]["locationEntries"]
        ready = True
        for entry in entries:
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                # the webserver looked before the code server had loaded the code; it watches
                # the server and reloads the location once it answers
                self.last_error = f"{entry['name']}: {loaded['message']}"
            ready = (
                ready
                and entry["loadStatus"] == "LOADED"
                and loaded.get("__typename") == ("RepositoryLocation")
            )
        return ready and len(entries) == len(self.locations)

    def wait(self, done: Any, timeout: float, what: str, every: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited ({proc.returncode}):\n{self.tail(name)}")
            got = done()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what} {self.last_error}"
                )
            time.sleep(every)

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        req = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=120) as resp:
            out = json.loads(resp.read())
        if out.get("errors"):
            raise AssertionError(f"GraphQL errors: {out['errors']}")
        return out["data"]

    def mutate(self, field_name: str, query: str, variables: Mapping[str, Any]) -> Any:
        """A mutation whose result is a union: a ``PythonError`` or ``...Error`` is a failure."""
        data = self.graphql(query, variables)[field_name]
        if "Error" in data.get("__typename", "") or "message" in data:
            raise AssertionError(f"{field_name} failed: {data}")
        return data

    def selector(self, location: str, **name: str) -> dict[str, str]:
        return {"repositoryLocationName": location, "repositoryName": REPO, **name}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __enter__(self) -> Deployment:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
