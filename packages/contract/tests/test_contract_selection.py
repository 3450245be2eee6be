"""What ``--select`` means, resolved once in the contract (every orchestrator renders this)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from stacks_contract.errors import ConfigError
from stacks_contract.models import (
    LoadResult,
    ModelResult,
    NodeStatus,
    RunRequest,
    RunStatus,
    StackSpec,
    TableRef,
    TestResult,
    TransformNode,
    TransformResult,
)
from stacks_contract.ports import ELStep, Transform
from stacks_contract.selection import resolve

T0 = datetime(2030, 1, 1, tzinfo=UTC)


class Step(ELStep):
    def __init__(self, name: str, *tables: str) -> None:
        self.name = name
        self.tables = tuple(TableRef.parse(t) for t in tables)

    def produces(self) -> tuple[TableRef, ...]:
        return self.tables

    def run(self, request, warehouse, report=None):  # pragma: no cover - never run here
        raise AssertionError("selection must not run anything")


class Models(Transform):
    name = "models"

    def __init__(self, *nodes: TransformNode) -> None:
        self._nodes = nodes

    def consumes(self) -> tuple[TableRef, ...]:
        return tuple(
            TableRef.parse(d) for n in self._nodes for d in n.depends_on if d.startswith("raw.")
        )

    def produces(self) -> tuple[TableRef, ...]:
        return tuple(n.table for n in self._nodes if n.table is not None)

    def nodes(self) -> tuple[TransformNode, ...]:
        return self._nodes

    def run(self, request, warehouse, report=None):  # pragma: no cover
        raise AssertionError("selection must not run anything")


def _node(name: str, *deps: str, tags: tuple[str, ...] = ()) -> TransformNode:
    return TransformNode(name=name, table=TableRef("analytics", name), depends_on=deps, tags=tags)


@pytest.fixture
def spec() -> StackSpec:
    return StackSpec(
        name="shop",
        el_steps=(Step("shop", "raw.orders", "raw.orders__items"), Step("crm", "raw.customers")),
        transform=Models(
            _node("stg_orders", "raw.orders", tags=("staging",)),
            _node("stg_items", "raw.orders__items", tags=("staging",)),
            _node("stg_customers", "raw.customers", tags=("staging",)),
            _node("fct_orders", "stg_orders", "stg_items", tags=("marts",)),
            _node("dim_customers", "stg_customers", "fct_orders", tags=("marts",)),
        ),
    )


def _ran(spec: StackSpec, *select: str, exclude: tuple[str, ...] = ()) -> tuple:
    sel = resolve(spec, select, exclude)
    return sel.steps, sel.models


def test_nothing_selected_is_everything(spec) -> None:
    sel = resolve(spec)
    assert sel.everything and sel.steps == ("shop", "crm") and len(sel.models) == 5
    assert sel.transform_select() == ()


def test_a_bare_name_is_exactly_that(spec) -> None:
    assert _ran(spec, "shop") == (("shop",), ())
    assert _ran(spec, "fct_orders") == ((), ("fct_orders",))


def test_a_table_selects_the_step_that_produces_it(spec) -> None:
    assert _ran(spec, "raw.orders__items") == (("shop",), ())
    assert _ran(spec, "customers") == (("crm",), ())  # a bare table name, unique
    assert _ran(spec, "analytics.fct_orders") == ((), ("fct_orders",))


def test_downstream_and_upstream_operators(spec) -> None:
    assert _ran(spec, "crm+") == (("crm",), ("dim_customers", "stg_customers"))
    assert _ran(spec, "+fct_orders") == (("shop",), ("fct_orders", "stg_items", "stg_orders"))
    assert _ran(spec, "+stg_customers+") == (("crm",), ("dim_customers", "stg_customers"))
    assert _ran(spec, "orders+") == (("shop",), ("dim_customers", "fct_orders", "stg_orders"))


def test_tags_and_exclude(spec) -> None:
    assert _ran(spec, "tag:marts") == ((), ("dim_customers", "fct_orders"))
    assert _ran(spec, "shop+", exclude=("tag:marts",)) == (("shop",), ("stg_items", "stg_orders"))
    # excluding a table excludes the step that loads it (a step loads as a whole)
    assert _ran(spec, exclude=("raw.orders",))[0] == ("crm",)
    sel = resolve(spec, ("tag:staging",))
    assert sel.transform_select() == ("stg_customers", "stg_items", "stg_orders")


@pytest.mark.parametrize(
    ("select", "words"),
    [
        ("no_such", ["no_such", "EL steps: shop, crm", "fct_orders"]),
        ("tag:gold", ["gold"]),
        ("+", ["Empty selector"]),
    ],
)
def test_unknown_names_are_config_errors_naming_what_exists(spec, select, words) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(spec, (select,))
    for word in words:
        assert word in str(info.value)


def test_an_ambiguous_bare_table_name_asks_for_schema_table() -> None:
    spec = StackSpec(name="two", el_steps=(Step("a", "raw.t"), Step("b", "other.t")))
    with pytest.raises(ConfigError, match="several tables"):
        resolve(spec, ("t",))
    assert _ran(spec, "other.t") == (("b",), ())


def test_a_selection_that_leaves_nothing_is_an_error(spec) -> None:
    with pytest.raises(ConfigError, match="leaves nothing to run"):
        resolve(spec, ("shop",), exclude=("shop",))


# --- one record, whoever ran the steps -----------------------------------------------------------


def _transform(ok: bool) -> TransformResult:
    return TransformResult(
        run_id="r",
        models=(
            ModelResult(name="b", status=NodeStatus.SUCCESS),
            ModelResult(name="a", status=NodeStatus.SUCCESS),
        ),
        tests=(
            TestResult(name="t1", status=NodeStatus.PASS),
            TestResult(
                name="t2",
                status=NodeStatus.PASS if ok else NodeStatus.FAIL,
                failures=0 if ok else 5,
            ),
        ),
        started_at=T0,
        finished_at=T0,
    )


def test_run_record_from_results_totals_and_failure_sentence() -> None:
    request = RunRequest(run_id="r", stack="s")
    loads = [
        LoadResult(
            step="x", run_id="r", rows={"raw.a": 2, "raw.b": 1}, started_at=T0, finished_at=T0
        ),
        LoadResult(step="y", run_id="r", rows={"raw.a": 3}, started_at=T0, finished_at=T0),
    ]
    ok = _record(request, loads, _transform(True))
    assert ok.status == RunStatus.SUCCEEDED and ok.error is None
    assert ok.rows == {"raw.a": 5, "raw.b": 1} and ok.steps == ("x", "y")
    assert (ok.models_built, ok.models, ok.tests_passed, ok.tests_failed) == (2, ("a", "b"), 2, 0)
    bad = _record(request, loads, _transform(False))
    assert bad.status == RunStatus.FAILED and bad.tests_failed == 1
    assert bad.error == "Step 'dbt' failed: 1 test(s) failed: t2 (5 rows)."
    failed_step = RunRecord_from(request, "Step 'y' failed: boom")
    assert failed_step.status == RunStatus.FAILED and failed_step.error == "Step 'y' failed: boom"


def _load(step: str, rows: dict[str, int]) -> LoadResult:
    return LoadResult(step=step, run_id="r", rows=rows, started_at=T0, finished_at=T0)


def _record(request, loads, transform):
    from stacks_contract.models import RunRecord

    return RunRecord.from_results(
        request,
        stack="s",
        orchestrator="o",
        started_at=T0,
        loads=loads,
        transform=transform,
        transform_step="dbt",
    )


def RunRecord_from(request, error):
    from stacks_contract.models import RunRecord

    return RunRecord.from_results(request, stack="s", orchestrator="o", started_at=T0, error=error)


class ToolModels(Models):
    """A transform with a selector syntax of its own (``path:``), resolved in its own terms."""

    def __init__(self, *nodes: TransformNode) -> None:
        super().__init__(*nodes)
        self.asked: list[tuple[str, object]] = []

    def resolve_selector(self, selector, warehouse=None):
        self.asked.append((selector, warehouse))
        if selector.lstrip("+").startswith("path:staging"):
            return ("stg_customers", "stg_orders")
        return ()


def test_a_selector_the_contract_does_not_know_is_the_transforms_to_resolve(spec) -> None:
    tool = ToolModels(*spec.transform.nodes())
    spec = spec.model_copy(update={"transform": tool})
    sel = resolve(spec, ["path:staging"], warehouse="wh")
    assert (sel.steps, sel.models) == ((), ("stg_customers", "stg_orders"))
    assert tool.asked == [("path:staging", "wh")]  # the whole selector, and the warehouse
    # a leading +: the tool walked its own graph; the EL steps feeding the result are added
    up = resolve(spec, ["+path:staging"])
    assert (up.steps, up.models) == (("shop", "crm"), ("stg_customers", "stg_orders"))
    with pytest.raises(ConfigError, match="selects no transform node"):
        resolve(spec, ["path:nowhere"])
    with pytest.raises(ConfigError, match="Nothing named 'nope' to select"):
        resolve(spec, ["nope"])  # a plain name neither knows: the contract's sentence
    with pytest.raises(ConfigError, match="No transform node is tagged"):
        resolve(spec, ["tag:nothing"])  # the contract's own grammar is not handed on
    with pytest.raises(ConfigError, match="Nothing named 'path:staging'"):
        resolve(StackSpec(name="s", el_steps=spec.el_steps, transform=Models()), ["path:staging"])


def test_run_record_counts_warnings_seeds_snapshots_and_names_an_errored_test() -> None:
    from stacks_contract.models import RunRecord

    def node(name: str, kind: str) -> ModelResult:
        return ModelResult(name=name, status=NodeStatus.SUCCESS, kind=kind)

    result = TransformResult(
        run_id="r",
        models=(node("m", "model"), node("s", "seed"), node("snap", "snapshot")),
        tests=(
            TestResult(name="w", model="m", status=NodeStatus.WARN, failures=1),
            TestResult(
                name="u", model="m2", status=NodeStatus.ERROR, message="column x", kind="unit_test"
            ),
        ),
        started_at=T0,
        finished_at=T0,
        artifacts="/state/target",
    )
    record = RunRecord.from_results(
        RunRequest(run_id="r", stack="s"),
        stack="s",
        orchestrator="o",
        started_at=T0,
        transform=result,
        transform_step="dbt",
    )
    assert (record.models_built, record.seeds_built, record.snapshots_built) == (1, 1, 1)
    assert (record.tests_warned, record.tests_failed, record.artifacts) == (1, 1, "/state/target")
    assert record.error == "Step 'dbt' failed: unit test u on model m2 error (column x)."
