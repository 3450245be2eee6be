"""Per-user local state (tool working folders, dbt's target/ and logs/): private directories.

Tools write what they were given into their working folders (dbt's profile, its logs, dlt's
pipeline state), so such a folder must be readable by its user alone, and a folder someone else
created first under a predictable shared path (``$TMPDIR/stacks-dbt-<uid>``) must be refused, not
used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stacks_contract.errors import ConfigError

__all__ = ["private_dir"]


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
