"""Per-user local state (tool working folders, dbt's target/ and logs/): private directories,
pruned when unused, and per-run scratch folders that a killed run cannot leave behind.

Tools write what they were given into their working folders (dbt's profile, its logs, dlt's
pipeline state), so such a folder must be readable by its user alone, and a folder someone else
created first under a predictable shared path (``$TMPDIR/stacks-dbt-<uid>``) must be refused, not
used.

Per-warehouse state folders (one per warehouse a tool ever wrote to) are marked used by
:func:`use_state_dir` at the start of a run, which also removes the sibling folders nobody used
for ``$STACKS_STATE_MAX_AGE_DAYS`` days (default 30; ``off`` keeps them forever). All of it can
be rebuilt: dlt restores its state from the warehouse, dbt parses again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from stacks_contract.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "MAX_AGE_ENV",
    "private_dir",
    "prune_stale",
    "run_scratch",
    "scratch_root",
    "size_of",
    "state_max_age_days",
    "use_state_dir",
]

MAX_AGE_ENV = "STACKS_STATE_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 30.0
#: a scratch folder without its lock file yet is left alone this long (it is being created)
_CREATING_S = 60.0
_LOCK = ".lock"
_PRUNED: set[tuple[str, str]] = set()  # (root, pattern) pruned by this process already


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (0700), created if missing.

    An existing directory owned by another user is refused (:class:`ConfigError`); one of ours
    that others can read is closed (earlier versions created them 0755)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"The state directory {path} is not a directory (a link or a file).")
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"The state directory {path} belongs to another user (uid {info.st_uid}); refusing "
            "to keep state there. Remove it or point the state elsewhere (STACKS_DBT_STATE_DIR, "
            "STACKS_DLT_DIR)."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def state_max_age_days() -> float | None:
    """``$STACKS_STATE_MAX_AGE_DAYS`` (a positive number of days; ``off`` never prunes)."""
    raw = os.environ.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    if raw.lower() in ("off", "never"):
        return None
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if days <= 0:
        raise ConfigError(
            f"{MAX_AGE_ENV}={raw!r} is not a positive number of days (or 'off' to never prune)."
        )
    return days


def size_of(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder; links not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += Path(root, name).lstat().st_size
    return total


def prune_stale(
    root: Path,
    pattern: str | tuple[str, ...],
    *,
    keep: Path | None = None,
    max_age_days: float | None = None,
) -> list[tuple[Path, int]]:
    """Remove the folders in ``root`` matching ``pattern`` (a glob, or several) not used for
    ``max_age_days`` (their modification time; :func:`use_state_dir` touches a folder it hands
    out). Returns what went, with sizes."""
    if max_age_days is None or not root.is_dir():
        return []
    cutoff = time.time() - max_age_days * 86400
    removed = []
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    children = dict.fromkeys(c for p in patterns for c in root.glob(p))
    for child in children:
        with contextlib.suppress(OSError):
            info = child.lstat()
            if keep is not None and child == keep:
                continue
            if not stat.S_ISDIR(info.st_mode) or info.st_mtime >= cutoff:
                continue
            if info.st_uid != os.getuid():
                continue
            size = size_of(child)
            shutil.rmtree(child)
            removed.append((child, size))
    return removed


def use_state_dir(path: Path, *, prune: str | tuple[str, ...]) -> Path:
    """``path`` as a private folder marked used now; once per process, the sibling folders
    matching ``prune`` unused for longer than the bound (:func:`state_max_age_days`) are removed."""
    private_dir(path)
    os.utime(path)
    key = (str(path.parent), repr(prune))
    if key not in _PRUNED:
        _PRUNED.add(key)
        prune_stale(path.parent, prune, keep=path, max_age_days=state_max_age_days())
    return path


def scratch_root() -> Path:
    """Where per-run scratch folders live: ``$TMPDIR/stacks-scratch-<uid>`` (private)."""
    return Path(tempfile.gettempdir()) / f"stacks-scratch-{os.getuid()}"


@contextlib.contextmanager
def run_scratch(prefix: str) -> Iterator[Path]:
    """A scratch folder for one run, removed when the block ends, however the block ends, and by
    the next run when the process died (SIGKILL): each holds an ``flock`` on a file inside it,
    which the kernel releases with the process, so a folder whose lock can be taken is stale."""
    import fcntl

    root = private_dir(scratch_root())
    _sweep(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))
    try:
        with open(folder / _LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            work = folder / "work"
            work.mkdir()
            yield work
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep(root: Path) -> None:
    """Remove the scratch folders of runs that died."""
    import fcntl

    for child in root.iterdir():
        lock_file = child / _LOCK
        try:
            if not lock_file.exists():
                if time.time() - child.lstat().st_mtime > _CREATING_S:
                    shutil.rmtree(child, ignore_errors=True)
                continue
            with open(lock_file) as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(child, ignore_errors=True)
        except (BlockingIOError, OSError):
            continue  # in use by a live run (or gone already)
