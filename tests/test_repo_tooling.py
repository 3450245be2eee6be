"""The repository's own tooling: the CI script and the Makefile do what the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_script_is_executable_strict_bash() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # the steps the README promises, in order
    steps = [
        "python3 -m pip install",
        "apt_wanted+=(postgresql)",
        "apt-get install -y -qq",
        "\nuv sync --all-packages --frozen",
        "uv run --frozen --exact --package",
        "\nuv run --frozen pytest",
    ]
    positions = [text.index(s) for s in steps]
    assert positions == sorted(positions)


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.fail("`make` is not installed (apt-get install make)")
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_make_help_is_the_default_and_lists_every_target() -> None:
    proc = _make()
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)  # the target names are coloured
    for target in ("help", "install", "lint", "test", "test-pkg", "bench", "bench-quick", "ci"):
        assert re.search(rf"^  {target} +\S", text, re.M), target


@pytest.mark.parametrize(
    ("pkg", "folder"),
    [("el-dlt", "packages/el-dlt"), ("contract", "packages/contract"),
     ("dagster-dlt-dbt", "stacks/dagster-dlt-dbt")],
)  # fmt: skip
def test_make_test_pkg_runs_one_member_alone(pkg: str, folder: str) -> None:
    proc = _make("-n", "test-pkg", f"PKG={pkg}")
    assert proc.returncode == 0, proc.stderr
    assert (
        f"UV_PROJECT_ENVIRONMENT=.venvs/{pkg} uv run --exact --package stacks-{pkg} pytest {folder}"
        in proc.stdout
    )


def test_make_test_pkg_without_a_known_pkg_explains_itself() -> None:
    for args in ((), ("PKG=no-such-package",)):
        proc = _make("test-pkg", *args)
        assert proc.returncode != 0
        assert "usage: make test-pkg PKG=" in proc.stdout


def test_make_lint_runs_ruff_then_mypy_per_member() -> None:
    proc = _make("-n", "lint")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == ["uv run ruff check .", "uv run ruff format --check .", "scripts/typecheck"]
    script = ROOT / "scripts" / "typecheck"
    assert os.access(script, os.X_OK), "scripts/typecheck must be executable"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


def test_typecheck_fails_on_a_folder_without_src() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "typecheck"), "no-such-member"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "typecheck: FAIL  no-such-member (no src/ folder)" in proc.stdout
