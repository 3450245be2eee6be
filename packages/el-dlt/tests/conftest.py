"""Every test keeps dlt's working state in its own temp folder (and out of $HOME).

``eldlt_child.py`` (the subprocess the SIGKILL tests run) is also imported here, once, as the
module ``eldlt_child``: test modules take it from ``sys.modules`` (importlib mode gives tests no
package to import it from, and dlt looks resources' modules up by name).
(test_eldlt_conformance.py loads its own copy: the suite's subprocesses import that module
without pytest, so without this conftest.)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from stacks_testing import telemetry_off

pytest_plugins = ("stacks_testing.plugin",)
telemetry_off()  # the tools these tests drive must not phone home


CHILD = Path(__file__).with_name("eldlt_child.py")


def _load_child() -> None:
    if "eldlt_child" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("eldlt_child", CHILD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eldlt_child"] = module
    spec.loader.exec_module(module)


_load_child()


@pytest.fixture(autouse=True)
def _dlt_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "dlt-state"
    monkeypatch.setenv("STACKS_DLT_DIR", str(path))
    return path
