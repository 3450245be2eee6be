"""Ctrl-C during an in-process DAG run: the run's own handler also hands the signal to the
handler that was there before (the `stacks` command's, which leaves at once on a second
Ctrl-C), instead of hiding it for the whole run."""

from __future__ import annotations

import os
import signal

import pytest
from stacks_orch_airflow.interrupts import catching


def test_a_signal_during_the_run_reaches_the_callers_handler_too() -> None:
    seen: list[int] = []

    def callers(signum: int, frame: object) -> None:
        seen.append(signum)
        if len(seen) > 1:
            raise SystemExit(130)  # what `stacks` does on the second one
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGINT, callers)
    try:
        with catching() as interrupted:
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
            assert interrupted.is_set() and seen == [signal.SIGINT]
            with pytest.raises(SystemExit):  # the second leaves, as the caller decided
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is callers  # restored after the run
    finally:
        signal.signal(signal.SIGINT, before)
