"""Local state: per-warehouse folders pruned when unused for longer than the bound, and per-run
scratch folders that a SIGKILLed run cannot leave behind."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from stacks_contract.errors import ConfigError
from stacks_core.state import MAX_AGE_ENV, run_scratch, scratch_root, use_state_dir
from stacks_testing.runner import run_and_kill

DAY = 86400


def _aged(path: Path, days: float) -> Path:
    path.mkdir(parents=True)
    (path / "state.json").write_text("{}")
    then = time.time() - days * DAY
    os.utime(path, (then, then))
    return path


def test_state_unused_for_longer_than_the_bound_is_pruned_when_a_run_starts(
    tmp_path: Path, monkeypatch
) -> None:
    import stacks_core.state as state

    monkeypatch.setattr(state, "_PRUNED", set())
    root = tmp_path / "dlt"
    stale = _aged(root / "duckdb-aaaa", 40)
    recent = _aged(root / "duckdb-bbbb", 3)
    other = _aged(root / "notes", 40)  # not a state folder: the pattern leaves it alone
    current = _aged(root / "duckdb-cccc", 90)  # the one this run uses: kept, marked used
    monkeypatch.delenv(MAX_AGE_ENV, raising=False)  # default: 30 days
    assert use_state_dir(current, prune="duckdb-*") == current
    assert not stale.exists()
    assert recent.exists() and other.exists() and current.exists()
    assert time.time() - current.stat().st_mtime < 60
    assert current.stat().st_mode & 0o777 == 0o700

    monkeypatch.setattr(state, "_PRUNED", set())
    monkeypatch.setenv(MAX_AGE_ENV, "2")
    use_state_dir(current, prune="duckdb-*")
    assert not recent.exists()

    older = _aged(root / "duckdb-dddd", 400)
    monkeypatch.setattr(state, "_PRUNED", set())
    monkeypatch.setenv(MAX_AGE_ENV, "off")
    use_state_dir(current, prune="duckdb-*")
    assert older.exists()

    monkeypatch.setattr(state, "_PRUNED", set())
    monkeypatch.setenv(MAX_AGE_ENV, "a month")
    with pytest.raises(ConfigError, match="STACKS_STATE_MAX_AGE_DAYS='a month' is not a positive"):
        use_state_dir(current, prune="duckdb-*")


CHILD = """
import time
from stacks_core.state import run_scratch

with run_scratch("dagster") as work:
    (work / "storage").mkdir()
    print("READY", flush=True)
    time.sleep(60)
"""


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(tmp_path: Path, monkeypatch):
    """SIGKILL gives a run no chance to remove its scratch folder: the next run does (the dead
    run's lock on it is gone), and leaves a live run's folder alone."""
    import tempfile

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    run = run_and_kill(
        [sys.executable, str(child)], {"TMPDIR": str(tmp)}, 0.2, log=tmp_path / "child.log"
    )
    assert run.killed, run.output
    [left] = scratch_root().iterdir()
    assert (left / "work" / "storage").is_dir()
    with run_scratch("dagster") as mine:
        assert not left.exists()
        with run_scratch("dagster"):  # a second live run keeps the first one's folder
            assert mine.exists()
    assert list(scratch_root().iterdir()) == []
    assert [p.name for p in tmp.iterdir()] == [scratch_root().name]
