"""The ports: small ABCs every tool package implements.

An implementation translates the contract into its tool and back; it never imports another tool
package. Orchestrators know steps only through these ABCs and the table manifest:

* an :class:`ELStep` declares the tables it produces (:meth:`ELStep.produces`, child tables too);
* a :class:`Transform` declares the tables it consumes and produces;
* an :class:`Orchestrator` derives dependencies and lineage from those lists
  (:func:`stacks_contract.manifest.plan`), never from table-name conventions.

Optional behaviour is a capability flag (a ``ClassVar[bool]`` defaulting to ``False``) that the
conformance suites read, never an ``if tool == ...``.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from stacks_contract.models import (
    LoadResult,
    RunRecord,
    RunRequest,
    StackRef,
    StackSpec,
    TableRef,
    TransformNode,
    TransformResult,
)

if TYPE_CHECKING:
    from stacks_contract.warehouse import Warehouse


class Reporter(Protocol):
    """Progress sink for long work. ``step`` names the step; ``message`` is one short line."""

    def __call__(self, step: str, message: str) -> None: ...


def silent(step: str, message: str) -> None:
    """A :class:`Reporter` that drops everything."""


@dataclass(frozen=True)
class UiCommand:
    """How to start an orchestrator's web UI (:meth:`Orchestrator.ui_command`): the command,
    extra environment variables (no secrets: the caller adds the warehouse URL to the process
    environment) and the URL the UI answers on once it is up."""

    argv: tuple[str, ...]
    url: str
    env: dict[str, str] = field(default_factory=dict)


class ELStep(ABC):
    """Extract from one source and load it, as-is, into the warehouse.

    Contract for implementations:

    * :meth:`run` is idempotent: running it N times against an unchanged source leaves the
      warehouse exactly as one run (merge/upsert on primary keys, replace for snapshots);
      a run killed at any point and re-run converges to the same state.
    * every row written carries the run id (``_stacks_run_id``) and/or a load id that the
      :class:`~stacks_contract.models.LoadResult` names, so it can be traced back to the run.
    * :attr:`LoadResult.rows` counts rows written per table, exactly.
    * errors are :class:`~stacks_contract.errors.StacksError` subclasses with one clear sentence,
      secrets masked.
    """

    #: a second run with no new source data writes 0 rows (cursor-based incremental state)
    incremental: ClassVar[bool] = False
    #: rows that break the declared schema go to a quarantine table and are counted
    quarantine: ClassVar[bool] = False
    #: every row written carries the run id in ``_stacks_run_id`` (the EL suite checks it)
    stamps_run_id: ClassVar[bool] = False
    #: columns the step's tool adds to every row as load metadata (exact names, or prefixes
    #: ending in ``*``): fingerprints ignore them, so equal data fingerprints equal
    metadata_columns: ClassVar[tuple[str, ...]] = ()
    #: the tool writes where its own configuration points (a remote engine's connection and its
    #: destination), not into any warehouse given to :meth:`run`: ``stacks check`` cannot
    #: re-deliver the source into a scratch warehouse, and says so instead of proving it
    fixed_destination: ClassVar[bool] = False

    name: str

    @abstractmethod
    def produces(self) -> tuple[TableRef, ...]:
        """Every table a run may create or write, child tables included. Must not touch the
        source or the warehouse (orchestrators call it while building definitions)."""

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """Local folders (or files) this step keeps for ``warehouse``: a tool's working folder,
        caches. ``stacks clean`` removes them, so everything in them must be rebuildable (the
        next run restores or recomputes it); never the warehouse's data. Default: none."""
        return ()

    def cancel(self, run_id: str, warehouse: Warehouse) -> None:
        """Stop work a remote engine still does for ``run_id`` after the local process that
        started it died (the suites call it after every SIGKILL). Steps whose work happens in
        the calling process have nothing to stop: the default does nothing."""
        return None

    @abstractmethod
    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> LoadResult:
        """Load once. Raises a StacksError on failure; a failed run may leave partial data that the
        next run must converge from."""


class ChangeProbe(ABC):
    """Mixin for an :class:`ELStep` whose source can say cheaply whether it changed.

    Orchestrators turn a :class:`~stacks_contract.models.SourceChangeTrigger` into a sensor that
    polls :meth:`source_version` and requests a run when the token differs from the last one seen.
    """

    @abstractmethod
    def source_version(self) -> str:
        """A short token that changes whenever the source has new or changed rows. Must be cheap
        (one small request or query) and must not load anything."""


class CursorState(ABC):
    """Mixin for an :class:`ELStep` that keeps an incremental cursor per table: what ``stacks
    state show|reset`` reads and forgets (Meltano's ``meltano state``).

    With :attr:`windows`, the step honours :attr:`RunRequest.window <stacks_contract.models.
    RunRequest.window>` (``stacks run --backfill``): it re-delivers the rows whose cursor lies in
    the window, for the tables ``request.select`` names among its own (all when none is), and
    leaves every cursor as it was.
    """

    #: :meth:`ELStep.run` re-delivers ``request.window`` without moving cursors
    windows: ClassVar[bool] = False

    @abstractmethod
    def cursors(self, warehouse: Warehouse) -> dict[str, dict[str, Any]]:
        """``table -> {cursor column: last value}`` as of the last load committed to
        ``warehouse`` (tables never loaded incrementally are absent)."""

    @abstractmethod
    def reset_cursors(self, warehouse: Warehouse, tables: tuple[str, ...] = ()) -> tuple[str, ...]:
        """Forget the cursors of ``tables`` (table names; all when empty) in ``warehouse``, so
        the next run reads them in full; their rows stay. Returns the tables reset."""


class Transform(ABC):
    """Transform raw tables inside the warehouse (models + tests, in dependency order)."""

    #: ``run`` builds only the nodes named in ``request.select``
    supports_selection: ClassVar[bool] = False
    #: models may stamp the run id into ``_stacks_run_id``; which ones do is :meth:`stamped`
    stamps_run_id: ClassVar[bool] = False
    #: columns the tool adds as metadata (see :attr:`ELStep.metadata_columns`)
    metadata_columns: ClassVar[tuple[str, ...]] = ()

    name: str

    @abstractmethod
    def consumes(self) -> tuple[TableRef, ...]:
        """Tables this transform reads that it does not itself produce (its sources)."""

    @abstractmethod
    def produces(self) -> tuple[TableRef, ...]:
        """Tables (and views) this transform materialises."""

    def nodes(self) -> tuple[TransformNode, ...]:
        """The buildable nodes and their edges, for :mod:`stacks_contract.selection`.

        Default: one node per produced table, named by the table, reading every consumed
        table. A transform that knows its graph (dbt's manifest) says so here."""
        sources = tuple(t.key for t in self.consumes())
        return tuple(
            TransformNode(name=t.name, table=t, depends_on=sources) for t in self.produces()
        )

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """Local state kept for ``warehouse`` (dbt's target/ and partial-parse state), as
        :meth:`ELStep.state_paths`. Default: none."""
        return ()

    def stamped(self) -> tuple[TableRef, ...]:
        """The produced tables whose rows carry ``_stacks_run_id``, as the project is written
        (checked per table by the transform suite). Default: all when :attr:`stamps_run_id`."""
        return self.produces() if self.stamps_run_id else ()

    def history_keeping(self) -> tuple[TableRef, ...]:
        """The produced tables that keep history no rebuild from today's source can reproduce
        (dbt snapshots, say): ``stacks check`` leaves them out of its full-rebuild proof and says
        so. Default: none."""
        return ()

    @abstractmethod
    def run(
        self, request: RunRequest, warehouse: Warehouse, report: Reporter = silent
    ) -> TransformResult:
        """Build exactly the nodes named in ``request.select`` (every node when it is empty;
        everything from scratch with ``request.full_refresh``) and run their tests. Which nodes
        to build is resolved by the orchestrator (:func:`stacks_contract.selection.resolve`).
        A failing test gives a result with ``ok == False``; a SQL error raises
        :class:`~stacks_contract.errors.StepFailed` naming the model and carrying the database's
        message."""


class Orchestrator(ABC):
    """Runs a :class:`StackSpec`, and deploys it as its tool's native artefact.

    Two ways in, one semantics:

    * :meth:`run`: once, in-process (``stacks run``, tests), returning the ledger record;
    * :meth:`build`: the artefact a scheduler or worker loads (Dagster ``Definitions``, an
      Airflow DAG, a Temporal worker with its workflow and schedules), from a :class:`StackRef`,
      so it rebuilds the stack on its own side and no secret travels.

    Either way, the semantics are the contract's, rendered, never re-invented: selection
    (:func:`stacks_contract.selection.resolve`, before anything runs), triggers
    (:mod:`stacks_contract.triggers`), and the ledger: one :class:`RunRecord` per run, written
    ``running`` at start (:meth:`Ledger.start`) and finished with :meth:`RunRecord.from_results`,
    whoever launched the run.
    """

    #: ``run`` honours ``request.select`` / ``request.exclude``
    supports_partial_runs: ClassVar[bool] = False

    name: str

    @abstractmethod
    def build(self, ref: StackRef) -> Any:
        """The native artefact for the stack ``ref`` names. Must not touch the source or the
        warehouse beyond reading the stack's spec (schedulers import it often)."""

    @abstractmethod
    def run(
        self,
        stack: StackSpec,
        request: RunRequest,
        warehouse: Warehouse,
        report: Reporter = silent,
    ) -> RunRecord:
        """Run the stack once, in-process, and return the ledger record (also when it failed:
        ``status == FAILED`` with ``error`` set; it does not raise for a failed step)."""

    def state_paths(self, stack: StackSpec, warehouse: Warehouse) -> tuple[Path, ...]:
        """Local state this orchestrator keeps for runs of ``stack`` (an instance home or a
        metadata database under ``./.stacks``), as :meth:`ELStep.state_paths`. Default: none."""
        return ()

    def ui_command(self, ref: StackRef, *, home: Path, port: int) -> UiCommand | None:
        """The command that serves this orchestrator's UI for the stack ``ref`` names on
        ``127.0.0.1:port``, keeping its state under ``home`` (``./.stacks/<orchestrator>``, the
        instance :meth:`run` records into as well, when the tool has one). ``stacks ui`` starts
        it in its own process group, with the warehouse URL in ``ref.warehouse_env``.
        Default: ``None``, this orchestrator has no UI."""
        return None


class Stack(ABC):
    """An installed, named combination: what ``stacks run NAME`` runs.

    Registered through the ``stacks.stacks`` entry-point group; the entry point is a zero-argument
    callable returning a ``Stack``. Building it must stay cheap (no tool imports at module level).
    """

    name: str
    description: str = ""

    @abstractmethod
    def orchestrator(self) -> Orchestrator:
        """The orchestrator that runs this stack."""

    @abstractmethod
    def spec(self, warehouse: Warehouse) -> StackSpec:
        """The steps, bound to ``warehouse``."""

    @contextlib.contextmanager
    def session(self, warehouse: Warehouse) -> Iterator[None]:
        """Services the stack needs while it runs (a demo source, say). Default: none."""
        yield

    def state_paths(self, warehouse: Warehouse) -> tuple[Path, ...]:
        """Everything local this stack keeps for ``warehouse`` (what ``stacks clean`` removes):
        its steps', transform's and orchestrator's :meth:`ELStep.state_paths`, in that order."""
        spec = self.spec(warehouse)
        parts: list[Path] = [p for step in spec.el_steps for p in step.state_paths(warehouse)]
        if spec.transform is not None:
            parts += spec.transform.state_paths(warehouse)
        parts += self.orchestrator().state_paths(spec, warehouse)
        return tuple(dict.fromkeys(parts))

    def hints(self, warehouse: Warehouse) -> list[str]:
        """Lines printed after a run: how to query the warehouse, how to open a UI."""
        return []
