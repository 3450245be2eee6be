"""stacks-core: the runtime every runner shares, over the contract (``stacks_contract``).

* :mod:`stacks_core.ledger`: the run ledger (one row per run, in the warehouse);
* :mod:`stacks_core.runlock` and :func:`run_stack`: one run of a stack per warehouse at a time;
* :mod:`stacks_core.fingerprint` and :mod:`stacks_core.check`: content fingerprints and the
  proofs ``stacks check`` prints;
* :mod:`stacks_core.local`: the Local orchestrator, the baseline the others are compared with;
* :mod:`stacks_core.registry`: installed stacks (entry points) and references to them;
* :mod:`stacks_core.sql`, :mod:`stacks_core.state`, :mod:`stacks_core.retry`: the DB access,
  the local state folders and the transient-error retries the runners and tool packages share.
"""

from stacks_core.fingerprint import Fingerprint, TableFingerprint, diff, fingerprint
from stacks_core.ledger import Ledger
from stacks_core.local import LocalOrchestrator
from stacks_core.registry import load_stack, spec_for
from stacks_core.retry import is_transient, retry_transient
from stacks_core.runner import run_stack

__all__ = [
    "Fingerprint",
    "Ledger",
    "LocalOrchestrator",
    "TableFingerprint",
    "diff",
    "fingerprint",
    "is_transient",
    "load_stack",
    "retry_transient",
    "run_stack",
    "spec_for",
]
