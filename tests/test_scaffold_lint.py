"""`uv run stacks init my-stack` at the repository's root, where the README puts it: `make
lint`'s ruff check and format still pass (the scaffold brings its own ruff settings)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_the_scaffold_passes_ruff_at_the_repository_root(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)  # the repository's ruff settings above it
    made = subprocess.run([BIN / "stacks", "init", "my-stack"], cwd=tmp_path, capture_output=True)
    assert made.returncode == 0, made.stderr
    for check in (["check", "."], ["format", "--check", "."]):
        proc = subprocess.run([BIN / "ruff", *check], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, f"ruff {' '.join(check)}:\n{proc.stdout}{proc.stderr}"
