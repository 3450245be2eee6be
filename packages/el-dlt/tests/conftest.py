"""Every test keeps dlt's working state in its own temp folder (and out of $HOME)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _dlt_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "dlt-state"
    monkeypatch.setenv("STACKS_DLT_DIR", str(path))
    return path
