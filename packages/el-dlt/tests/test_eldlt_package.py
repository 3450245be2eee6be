"""Package hygiene a user relies on: a cheap import, and no dependency on other tool packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import stacks_el_dlt


def test_importing_the_package_does_not_import_dlt() -> None:
    code = "import sys, stacks_el_dlt; print('dlt' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_names_exist() -> None:
    for name in stacks_el_dlt.__all__:
        assert hasattr(stacks_el_dlt, name), name


def test_depends_on_the_contract_and_core_and_no_other_stacks_package() -> None:
    from packaging.requirements import Requirement

    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    names = [Requirement(d).name for d in meta["project"]["dependencies"]]
    # the layering since the restructure: contract <- core <- tool packages, never a sibling
    assert [n for n in names if n.startswith("stacks-")] == ["stacks-contract", "stacks-core"]
