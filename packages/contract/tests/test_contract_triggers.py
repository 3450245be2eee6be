"""The tool-free half of every orchestrator's triggers: what counts as new, what a firing runs."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    CronTrigger,
    FileArrivalTrigger,
    SourceChangeTrigger,
    StackSpec,
    TableRef,
    TriggerKind,
)
from stacks_contract.ports import ChangeProbe, ELStep
from stacks_contract.triggers import (
    cron_token,
    evaluate_trigger,
    probe_source,
    scan_files,
    trigger_request,
)


class Probed(ELStep, ChangeProbe):
    name = "src"

    def __init__(self) -> None:
        self.version = "v1"

    def produces(self):
        return (TableRef("raw", "src"),)

    def run(self, request, warehouse, report=None):  # pragma: no cover
        raise AssertionError

    def source_version(self) -> str:
        return self.version


def _land(folder: Path, name: str, mtime: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("x")
    os.utime(folder / name, (mtime, mtime))


def test_scan_counts_each_file_once_even_within_one_second(tmp_path) -> None:
    trig = FileArrivalTrigger(path=str(tmp_path), pattern="*.csv")
    assert scan_files(trig, None).new == ()
    _land(tmp_path, "a.csv", 1000.0)
    _land(tmp_path, "b.csv", 1000.0)
    _land(tmp_path, "skip.txt", 1000.0)
    first = scan_files(trig, None)
    assert first.new == ("a.csv", "b.csv") and first.fires
    assert scan_files(trig, first.cursor).new == ()
    _land(tmp_path, "c.csv", 1000.0)  # same second as the cursor, a new name
    assert scan_files(trig, first.cursor).new == ("c.csv",)
    _land(tmp_path / "sub", "d.csv", 999.0)  # older than the cursor: not new
    assert "sub/d.csv" not in scan_files(trig, first.cursor).new


def test_probe_fires_on_first_sight_and_on_change_only() -> None:
    step = Probed()
    first = probe_source(step, None)
    assert first.changed and first.version == "v1"
    assert not probe_source(step, first.cursor).changed
    step.version = "v2"
    assert probe_source(step, first.cursor).changed


def test_probe_of_a_step_that_cannot_tell_is_a_config_error() -> None:
    class Plain(Probed):
        source_version = None  # type: ignore[assignment]

    with pytest.raises(ConfigError, match="ChangeProbe"):
        probe_source(Plain(), None)


def test_trigger_requests_are_deterministic_and_select_what_runs() -> None:
    spec = StackSpec(name="s", el_steps=(Probed(),))
    trig = SourceChangeTrigger(step="src")
    a, b = trigger_request(spec, trig, "v1"), trigger_request(spec, trig, "v1")
    assert a.run_id == b.run_id and a.requested_at <= b.requested_at
    assert trigger_request(spec, trig, "v2").run_id != a.run_id
    assert (a.trigger, a.select) == (TriggerKind.SOURCE_CHANGE, ("src+",))
    cron = trigger_request(spec, CronTrigger(cron="0 6 * * *"), "t")
    assert (cron.trigger, cron.select) == (TriggerKind.SCHEDULE, ())
    with pytest.raises(ConfigError, match="'nope'"):
        trigger_request(spec, SourceChangeTrigger(step="nope"), "v1")


def test_evaluate_cron_fires_each_tick_once() -> None:
    spec = StackSpec(name="s", el_steps=(Probed(),))
    trig = CronTrigger(cron="0 6 * * *")
    tick = datetime(2030, 1, 1, 6, tzinfo=UTC)
    fired, cursor = evaluate_trigger(spec, trig, None, tick)
    assert len(fired) == 1 and cursor == cron_token(tick)
    assert evaluate_trigger(spec, trig, cursor, tick) == ([], cursor)
