"""Every stack in stacks/ is installed as a `stacks.stacks` entry point that the CLI can list and
load cheaply (building a Stack object imports no tool; tools load when it runs)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from stacks_core.registry import GROUP, available_stacks, describe

ROOT = Path(__file__).resolve().parents[1]
DECLARED = {
    name: (member, value)
    for member in sorted(ROOT.glob("stacks/*"))
    if (member / "pyproject.toml").exists()
    for name, value in tomllib.loads((member / "pyproject.toml").read_text())["project"]
    .get("entry-points", {})
    .get(GROUP, {})
    .items()
}
TOOLS = ("dlt", "dbt", "dagster", "dagster_dbt", "dagster_dlt", "airflow", "temporalio", "airbyte")


def test_every_stack_member_declares_an_entry_point() -> None:
    members = {p.parent for p in ROOT.glob("stacks/*/pyproject.toml")}
    assert members == {m for m, _ in DECLARED.values()}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_declared_stack_is_installed_listed_and_cheap_to_load(name: str) -> None:
    stacks = available_stacks()
    assert name in stacks, f"{name} is declared but not installed (uv sync --all-packages)"
    assert stacks[name].value == DECLARED[name][1]
    assert describe(stacks[name]), "the stack's distribution has no description"
    probe = (
        "import json, sys\n"
        "from stacks_core.registry import load_stack\n"
        f"stack = load_stack({name!r})\n"
        f"tools = {TOOLS!r}\n"
        "print(json.dumps({'name': stack.name, 'tools': sorted({m.split('.')[0] for m in "
        "sys.modules if m.split('.')[0] in tools})}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"name": name, "tools": []}
