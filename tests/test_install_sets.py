"""What installing one member brings, read from the committed lock (``uv export``, offline): the
contract brings pydantic alone; nothing a user installs to run stacks brings the test tooling.
(``test_wheel_install.py`` checks the same from real wheels in fresh venvs.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {
    p.parent.name: p.parent
    for group in ("packages", "stacks")
    for p in sorted((ROOT / group).glob("*/pyproject.toml"))
}
#: what pydantic itself requires
PYDANTIC = {
    "pydantic", "pydantic-core", "annotated-types", "typing-extensions", "typing-inspection"
}  # fmt: skip
TEST_TOOLING = {"pytest", "testcontainers", "stacks-testing", "pytest-timeout"}


def resolved(member: str) -> set[str]:
    """Every distribution ``stacks-<member>`` installs (all extras, no dev groups)."""
    cmd = ["uv", "export", "--frozen", "--no-dev", "--all-extras", "--no-hashes", "--no-header"]
    cmd += ["--package", f"stacks-{member}", "--no-annotate"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = set()
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("-e "):  # a workspace member: -e ./packages/x
            names.add(f"stacks-{Path(line[3:]).name}")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[=<>;\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_the_contract_brings_pydantic_and_nothing_else() -> None:
    assert resolved("contract") == {"stacks-contract", *PYDANTIC}


@pytest.mark.parametrize("member", [m for m in MEMBERS if m != "testing"])
def test_installing_a_member_brings_no_test_tooling(member: str) -> None:
    found = resolved(member) & TEST_TOOLING
    assert not found, f"installing stacks-{member} installs {sorted(found)}"


def test_the_test_kit_is_test_tooling() -> None:  # the check above can fail
    assert {"pytest", "testcontainers"} <= resolved("testing")
