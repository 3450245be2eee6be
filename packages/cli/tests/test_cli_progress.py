"""What `stacks run` says while it works, as a user sees it (the command in a subprocess): its
first line before the stack is even loaded, a heartbeat naming the stage while a step is silent,
nothing with -q, and a --json document that no progress line runs into."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest
from stacks_testing.entrypoints import install_stacks

STACKS = Path(sys.executable).parent / "stacks"

STACK_MODULE = """
import os
import time

from stacks_contract.ports import Stack
from stacks_core.local import LocalOrchestrator
from stacks_testing.reference import reference_stack


class WaitingStack(Stack):
    # its customers step says what it does, then is silent for STEP_SECONDS (a big extract)
    name = "waiting"
    description = "a stack with a slow, silent step"

    def orchestrator(self):
        return LocalOrchestrator()

    def spec(self, warehouse):
        spec = reference_stack(os.environ["REF_SOURCES"], name="waiting")
        step = spec.el_steps[0]
        run = step.run

        def silent_run(request, warehouse, report=None):
            report(step.name, "extract: waiting for the source")
            time.sleep(float(os.environ.get("STEP_SECONDS", "0")))
            return run(request, warehouse)

        object.__setattr__(step, "run", silent_run)
        return spec


def build():
    return WaitingStack()
"""

# a stack in the user's own file whose import blocks until GATE exists (a slow import)
GATED = """
import os
import time
from pathlib import Path

while not Path(os.environ["GATE"]).exists():
    time.sleep(0.05)

from _progress_stacks import build as stack
"""


@pytest.fixture
def user(tmp_path: Path):
    site = install_stacks(
        tmp_path / "site",
        dist="progress-stacks",
        module="_progress_stacks",
        source=STACK_MODULE,
        stacks={"waiting": "build"},
    )
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STACKS_WAREHOUSE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["REF_SOURCES"] = str(tmp_path / "sources")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STACKS), *args],
            cwd=cwd,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.cwd = cwd  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    return run


def test_the_first_line_comes_before_the_stack_is_loaded(user, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    (tmp_path / "gated.py").write_text(GATED)
    proc = subprocess.Popen(
        [str(STACKS), "run", f"{tmp_path / 'gated.py'}:stack"],
        cwd=user.cwd,
        env={**user.env, "GATE": str(gate)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stderr, selectors.EVENT_READ)  # type: ignore[arg-type]
            ready = sel.select(timeout=60)
        # the stack's module cannot have been imported: it waits for the gate
        assert ready, "nothing was printed while the stack was loading"
        first = proc.stderr.readline()  # type: ignore[union-attr]
        assert proc.poll() is None
        assert first.split()[1:] == [f"{tmp_path / 'gated.py'}:stack", "resolving", "the", "stack"]
    finally:
        gate.touch()
        out, errs = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + errs
    assert "succeeded" in out


def test_a_silent_step_gets_a_heartbeat_naming_its_stage(user) -> None:
    proc = user("run", "waiting", STEP_SECONDS="3", STACKS_HEARTBEAT_SECONDS="0.5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert "waiting resolving the stack" in lines[0]
    beats = [
        line
        for line in lines
        if "customers extract: waiting for the source (still running, " in line
        and line.endswith("s in this stage)")
    ]
    assert len(beats) >= 2, proc.stderr
    assert "succeeded" in proc.stdout and "still running" not in proc.stdout


def test_quiet_silences_the_heartbeat_too(user) -> None:
    proc = user("-q", "run", "waiting", STEP_SECONDS="1.5", STACKS_HEARTBEAT_SECONDS="0.3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""


def test_json_is_one_document_after_the_last_progress_line(user) -> None:
    """stdout and stderr on one terminal (`2>&1`): every progress line, heartbeats included,
    comes before the JSON document, which parses whole."""
    proc = subprocess.run(
        ["bash", "-c", f"{STACKS} run waiting --json 2>&1"],
        cwd=user.cwd,
        env={**user.env, "STEP_SECONDS": "2", "STACKS_HEARTBEAT_SECONDS": "0.2"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress, brace, document = proc.stdout.partition("\n{\n")
    assert "still running" in progress
    record = json.loads(brace.strip() + document)
    assert record["status"] == "succeeded" and record["stack"] == "waiting"
