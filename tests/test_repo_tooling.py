"""The repository's own tooling: the test command, the CI script and the Makefile do what the
README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
    # the steps the README promises, in order; the tests themselves run once, by scripts/test
    steps = [
        "python3 -m pip install",
        "apt_wanted+=(postgresql)",
        "apt-get install -y -qq",
        "\nuv sync --all-packages --frozen --compile-bytecode",
        "\nscripts/test ",
    ]
    positions = [text.index(s) for s in steps]
    assert positions == sorted(positions)
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "pytest" in line], "tests run once, in scripts/test"


def _test_script(*args: str) -> subprocess.CompletedProcess[str]:
    # a URL nothing listens on: no cluster is started, and the runs below open no database
    env = {**os.environ, "STACKS_TEST_POSTGRES_URL": "postgresql://nobody@127.0.0.1:9/none"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "test"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_test_script_lists_every_member_and_the_cross_package_tests() -> None:
    assert os.access(ROOT / "scripts" / "test", os.X_OK), "scripts/test must be executable"
    proc = _test_script("--list")
    assert proc.returncode == 0, proc.stderr
    expected = sorted(p.parent.name for p in ROOT.glob("packages/*/pyproject.toml"))
    expected += sorted(p.parent.name for p in ROOT.glob("stacks/*/pyproject.toml"))
    listed = proc.stdout.split()
    parts = [name for name in listed if name.startswith("tests-")]
    assert listed == [*expected, "tests", *parts] and "tests-swap" in parts


def test_every_cross_package_test_file_runs_in_exactly_one_part() -> None:
    """The parts of tests/ (scripts/test's PARTS) cover every test file once: the rest part
    ignores exactly the files the others name, and every named file exists."""
    text = (ROOT / "scripts" / "test").read_text()
    named = re.findall(r'"(tests/test_\w+\.py)"', text)
    assert named and len(named) == len(set(named))
    assert all((ROOT / f).is_file() for f in named), named
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests",
         *(f"--ignore={f}" for f in named)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    rest = {line.split("::")[0] for line in proc.stdout.splitlines() if "::" in line}
    assert rest and not rest & set(named), rest


def test_test_script_rejects_an_unknown_member() -> None:
    proc = _test_script("contract", "no-such-member")
    assert proc.returncode == 2
    assert "unknown member(s): no-such-member" in proc.stderr
    assert "contract" not in proc.stdout  # nothing ran


def test_test_script_reports_each_member_in_a_table() -> None:
    # contract alone, in .venvs/contract: no test selected (pytest exit 5) is fine for a member;
    # a pytest usage error (exit 4) fails the run and is named at the end
    proc = _test_script("contract", "--", "-k", "no_test_has_this_name")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout.split("==> test times", 1)[1]
    assert re.search(r"^member +result +passed +failed +seconds$", table, re.M)
    assert re.search(r"^contract +no tests +0 +0 +\d+$", table, re.M)
    assert re.search(r"^total +\d+$", table, re.M)

    proc = _test_script("contract", "--", "--no-such-option")
    assert proc.returncode == 1
    assert re.search(r"^contract +FAILED \(4\) ", proc.stdout, re.M)
    assert proc.stdout.rstrip().endswith("FAILED: contract")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None:
        pytest.fail("`make` is not installed (apt-get install make)")
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_make_help_is_the_default_and_lists_every_target() -> None:
    proc = _make()
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout  # colour only on a terminal (here stdout is a pipe)
    for target in ("help", "install", "lint", "test", "test-pkg", "bench", "bench-quick", "ci"):
        assert re.search(rf"^  {target} +\S", proc.stdout, re.M), target


def test_make_test_is_the_test_script() -> None:
    proc = _make("-n", "test")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "scripts/test"


@pytest.mark.parametrize(
    ("pkg", "folder"),
    [("el-dlt", "packages/el-dlt"), ("contract", "packages/contract"),
     ("dagster-dlt-dbt", "stacks/dagster-dlt-dbt")],
)  # fmt: skip
def test_make_test_pkg_runs_one_member_alone(pkg: str, folder: str) -> None:
    assert (ROOT / folder / "pyproject.toml").exists()
    proc = _make("-n", "test-pkg", f"PKG={pkg}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"scripts/test {pkg}"
    proc = _make("-n", "test-pkg", f"PKG={pkg}", "ARGS=-x -k merge")
    assert proc.stdout.splitlines()[-1] == f"scripts/test {pkg} -- -x -k merge"


def test_make_test_pkg_without_a_known_pkg_explains_itself() -> None:
    for args in ((), ("PKG=no-such-package",)):
        proc = _make("test-pkg", *args)
        assert proc.returncode != 0
        assert "usage: make test-pkg PKG=" in proc.stdout


def test_make_lint_runs_ruff_then_mypy_per_member_then_the_workflow_checks() -> None:
    proc = _make("-n", "lint")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [
        "uv run ruff check .",
        "uv run ruff format --check .",
        "scripts/typecheck",
        "scripts/workflows --check",
        "uv run actionlint",
    ]
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
