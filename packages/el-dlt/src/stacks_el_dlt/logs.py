"""dlt's own log lines (warnings, job tracebacks) go to a file, not to the user's terminal.

On an ordinary run dlt logs WARNINGs a user can do nothing about (a column name that normalizes
onto another, Arrow hints that differ from the resource's) and, on a failed load job, whole
tracebacks once per retry. Those go to ``dlt.log`` in the stacks state folder
(``$STACKS_DLT_DIR``, default ``~/.local/share/stacks/dlt``); a failed step's message ends with
that path (see :meth:`~stacks_el_dlt.step.DltStep.translate_error`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from stacks_el_dlt.destination import PIPELINES_DIR_ENV

__all__ = ["dlt_log_path", "route_dlt_logs"]

#: the name dlt gives its logger (its run context's name)
_DLT_LOGGER = "dlt"


def dlt_log_path() -> Path:
    """Where dlt's log lines go: ``dlt.log`` next to dlt's working folders."""
    root = os.environ.get(PIPELINES_DIR_ENV)
    if root is None:
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = str(Path(data_home) / "stacks" / "dlt")
    return Path(root) / "dlt.log"


class _DltFileHandler(logging.FileHandler):
    """Marks the handler stacks installed (dlt keeps the first handler it finds)."""


def route_dlt_logs() -> Path:
    """Send dlt's logger to :func:`dlt_log_path` instead of stderr; returns the path.

    Cheap and idempotent: call it before and after dlt (re)initializes its logger. dlt reuses a
    logger's first handler when it initializes, so a handler installed first stays in place."""
    path = dlt_log_path()
    loggers = [logging.getLogger(_DLT_LOGGER)]
    try:
        from dlt.common import logger as dlt_logger

        if dlt_logger.LOGGER is not None and dlt_logger.LOGGER not in loggers:
            loggers.append(dlt_logger.LOGGER)
    except ImportError:  # pragma: no cover - dlt is a dependency
        pass
    for log in loggers:
        _route(log, path)
    return path


def _route(log: logging.Logger, path: Path) -> None:
    target = str(path.absolute())
    found = False
    for handler in list(log.handlers):
        if isinstance(handler, _DltFileHandler) and handler.baseFilename == target:
            found = True
        elif isinstance(handler, _DltFileHandler) or type(handler) is logging.StreamHandler:
            # dlt's own handler writes to stderr; another user's handler stays
            log.removeHandler(handler)
            handler.close()
    if not found:
        from stacks_core.state import private_dir

        # dlt's tracebacks can quote row values: the log is its user's alone
        private_dir(path.parent)
        path.touch(mode=0o600, exist_ok=True)
        handler = _DltFileHandler(path, delay=True, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.handlers.insert(0, handler)  # dlt keeps the first handler when it re-initializes
    log.propagate = False
    if log.level == logging.NOTSET:
        log.setLevel(logging.WARNING)
