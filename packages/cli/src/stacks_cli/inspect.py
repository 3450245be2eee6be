"""``stacks plan`` (what a selection would run, as text, a tree, Mermaid or JSON) and
``stacks runs`` (the run ledger). Neither runs a step: ``plan`` reads the stack's nodes only,
``runs`` reads the ledger without changing the warehouse."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from stacks_contract.models import RunRecord, StackSpec
from stacks_contract.warehouse import DEFAULT_DUCKDB_DIR, Warehouse, parse_warehouse

from stacks_cli.common import (
    EXCLUDE,
    EXIT_CONFIG,
    JSON,
    SELECT,
    WAREHOUSE,
    complete_stack,
    emit_json,
    errors,
    fail,
    out,
    prepare,
    stack_argument,
    tool_output,
)
from stacks_cli.transform_options import TRANSFORM_OPTIONS

__all__ = ["mermaid", "plan_cmd", "runs_cmd", "tree_lines"]

Node = tuple[str, str]


def _plan_graph(spec: StackSpec, steps: tuple[str, ...], models: tuple[str, ...]) -> list[Any]:
    """The selected part of the stack's graph: the steps, their tables, the models."""
    from stacks_contract.selection import edges

    keep: set[Node] = {("step", s) for s in steps} | {("node", m) for m in models}
    keep |= {("table", t.key) for s in steps for t in spec.step(s).produces()}
    return [(a, b) for a, b in edges(spec) if a in keep and b in keep]


def _roots(steps: tuple[str, ...], models: tuple[str, ...], graph: list[Any]) -> list[Node]:
    has_parent = {b for _, b in graph}
    roots: list[Node] = [("step", s) for s in steps]
    return roots + [("node", m) for m in models if ("node", m) not in has_parent]


def tree_lines(roots: list[Node], graph: list[Any], *, ascii_only: bool = False) -> list[str]:
    """The lineage as a text tree; a node reached a second time is not expanded again."""
    children: dict[Node, list[Node]] = {}
    for a, b in graph:
        children.setdefault(a, []).append(b)
    tee, last, bar = ("|-- ", "`-- ", "|   ") if ascii_only else ("├── ", "└── ", "│   ")
    lines: list[str] = []
    seen: set[Node] = set()

    def walk(node: Node, prefix: str, branch: str) -> None:
        kids = children.get(node, [])
        again = node in seen and bool(kids)
        lines.append(f"{prefix}{branch}{node[1]}{' (see above)' if again else ''}")
        if again:
            return
        seen.add(node)
        inner = prefix + ("" if not branch else "    " if branch == last else bar)
        for i, kid in enumerate(kids):
            walk(kid, inner, last if i == len(kids) - 1 else tee)

    for root in roots:
        walk(root, "", "")
    return lines


def mermaid(steps: tuple[str, ...], models: tuple[str, ...], graph: list[Any]) -> str:
    """A Mermaid ``graph LR``: steps -> tables -> models, to paste into docs."""
    ids: dict[Node, str] = {}
    shape = {"step": ('["', '"]'), "table": ('[("', '")]'), "node": ('(["', '"])')}
    css = {"step": "step", "table": "table", "node": "model"}
    lines = ["graph LR"]

    def ident(node: Node) -> str:
        if node not in ids:
            kind = css[node[0]]
            ids[node] = f"{kind[0]}{sum(1 for n in ids if n[0] == node[0])}"
            left, right = shape[node[0]]
            label = node[1].replace('"', "#quot;")
            lines.append(f"  {ids[node]}{left}{label}{right}:::{kind}")
        return ids[node]

    for node in [("step", s) for s in steps] + [("node", m) for m in models]:
        ident(node)
    for a, b in graph:
        ident(a), ident(b)
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in graph]
    lines += [
        "  classDef step fill:#dbeafe,stroke:#1d4ed8",
        "  classDef table fill:#fef3c7,stroke:#b45309",
        "  classDef model fill:#dcfce7,stroke:#15803d",
    ]
    return "\n".join(lines)


@click.command("plan")
@stack_argument()
@WAREHOUSE
@SELECT
@EXCLUDE
@TRANSFORM_OPTIONS
@JSON
@click.option("--mermaid", "as_mermaid", is_flag=True, help="Print a Mermaid graph LR diagram.")
def plan_cmd(
    name: str,
    url: str | None,
    select: tuple[str, ...],
    exclude: tuple[str, ...],
    as_json: bool,
    as_mermaid: bool,
) -> None:
    """Show what `stacks run NAME` would run for a selection: the EL steps and their tables,
    the models, and the lineage. Runs nothing and touches neither source nor warehouse."""
    from stacks_contract.selection import resolve

    stack, warehouse = prepare(name, url, connect_first=False)
    with errors(warehouse), tool_output():
        spec = stack.spec(warehouse)
        sel = resolve(spec, select, exclude, warehouse=warehouse)
        nodes = {n.name: n for n in (spec.transform.nodes() if spec.transform else ())}
        orchestrator = stack.orchestrator().name
    graph = _plan_graph(spec, sel.steps, sel.models)
    tables = {s: [t.key for t in spec.step(s).produces()] for s in sel.steps}
    if as_mermaid:
        sys.stdout.write(mermaid(sel.steps, sel.models, graph) + "\n")
        return
    if as_json:
        emit_json(
            {
                "stack": name,
                "orchestrator": orchestrator,
                "select": list(select),
                "exclude": list(exclude),
                "everything": sel.everything,
                "steps": [{"name": s, "tables": tables[s]} for s in sel.steps],
                "models": [
                    {
                        "name": m,
                        "table": nodes[m].table.key if nodes[m].table else None,
                        "depends_on": list(nodes[m].depends_on),
                        "tags": list(nodes[m].tags),
                    }
                    for m in sel.models
                ],
                "edges": [[a[1], b[1]] for a, b in graph],
            },
            warehouse,
        )
        return
    console = out()
    what = "everything" if sel.everything else f"select {list(select)} exclude {list(exclude)}"
    console.print(Text(f"Plan for {name} (orchestrator: {orchestrator}; {what})"), soft_wrap=True)
    console.print(Text(f"EL steps ({len(sel.steps)}):", style="bold"))
    for s in sel.steps:
        console.print(Text(f"  {s} -> {', '.join(tables[s]) or '(no tables)'}"), soft_wrap=True)
    console.print(Text(f"Models ({len(sel.models)}):", style="bold"))
    for m in sel.models:
        table = nodes[m].table
        console.print(Text(f"  {m}" + (f" -> {table.key}" if table else "")), soft_wrap=True)
    console.print(Text("Lineage:", style="bold"))
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower()
    ascii_only = "utf" not in encoding
    for line in tree_lines(_roots(sel.steps, sel.models, graph), graph, ascii_only=ascii_only):
        console.print(Text(f"  {line}"), soft_wrap=True)


def _warehouses(name: str | None, url: str | None) -> list[Warehouse]:
    if url or name:
        return [parse_warehouse(url, default_name=name or "warehouse")]
    return [parse_warehouse(str(p)) for p in sorted(Path(DEFAULT_DUCKDB_DIR).glob("*.duckdb"))]


def _settle_running(warehouse: Warehouse, records: list[RunRecord]) -> bool:
    """A ``running`` row whose stack's run lock is free belongs to a process that died: taking
    the lock for an instant marks it ``abandoned``, as the stack's next run would. True if any
    lock was free (then read the ledger again)."""
    from stacks_contract.errors import RunLocked
    from stacks_contract.models import RunStatus
    from stacks_core.runlock import run_lock

    settled = False
    for stack in sorted({r.stack for r in records if r.status == RunStatus.RUNNING}):
        try:
            with run_lock(warehouse, stack, None, finder="`stacks runs`"):
                settled = True
        except RunLocked:
            continue  # it is running
    return settled


def _duration(record: RunRecord) -> str:
    return "-" if record.seconds is None else f"{record.seconds:.1f}s"


@click.command("runs")
@click.argument("name", required=False, shell_complete=complete_stack)
@click.argument("run_id", required=False)
@WAREHOUSE
@click.option(
    "--limit", "-n", default=20, show_default=True, type=click.IntRange(min=1), help="Runs shown."
)
@JSON
def runs_cmd(
    name: str | None, run_id: str | None, url: str | None, limit: int, as_json: bool
) -> None:
    """Recent runs from the run ledger (stacks_meta._stacks_runs), newest first: of stack NAME,
    or of every stack (without NAME and --warehouse: every DuckDB file under ./.stacks/).
    `stacks runs show RUN_ID`: everything the ledger holds on one run (where its dbt
    artifacts are, say)."""
    from stacks_core.ledger import LEDGER_SCHEMA, LEDGER_TABLE, Ledger

    if name == "show" or run_id is not None:
        if name != "show" or not run_id:
            usage = "`uv run stacks runs [NAME]` or `uv run stacks runs show RUN_ID`"
            fail(f"Use {usage}.", EXIT_CONFIG)
        show_run(run_id, url, as_json)
        return
    with errors():
        warehouses = _warehouses(name, url)
    records: list[RunRecord] = []
    found = False
    for warehouse in warehouses:
        with errors(warehouse):
            got = Ledger(warehouse).read(name, limit)
            if got and _settle_running(warehouse, got):
                got = Ledger(warehouse).read(name, limit)
        if got is not None:
            found = True
            records += got
    records = sorted(records, key=lambda r: (r.started_at, r.run_id), reverse=True)[:limit]
    shown = ", ".join(w.redacted_url() for w in warehouses) or f"./{DEFAULT_DUCKDB_DIR}/"
    if as_json:
        emit_json({"runs": [r.model_dump(mode="json") for r in records]}, *warehouses[:1])
        return
    console = out()
    if not found:
        console.print(
            Text(
                f"No runs recorded yet: no {LEDGER_SCHEMA}.{LEDGER_TABLE} ledger in {shown}"
                + (f" (run `uv run stacks run {name}` first)." if name else "."),
            ),
            soft_wrap=True,
        )
        return
    if not records:
        console.print(Text(f"No runs of {name} in {shown}."), soft_wrap=True)
        return
    if not console.is_terminal:  # piped: no 80-column squeeze, a line per run to grep
        console = Console(file=sys.stdout, highlight=False, width=200)
    console.print(Text(f"Runs in {shown}, newest first:"), soft_wrap=True)
    table = Table(show_header=True, header_style="bold", box=box.SIMPLE_HEAD)
    for column, kw in (
        ("run id", {"no_wrap": True}),
        ("stack", {"no_wrap": True}),
        ("orchestrator", {"no_wrap": True}),
        ("status", {"no_wrap": True}),
        ("rows", {"justify": "right", "no_wrap": True}),
        ("duration", {"justify": "right", "no_wrap": True}),
        ("error", {"overflow": "fold"}),
    ):
        table.add_column(column, **kw)
    for r in records:
        style = {"succeeded": "green", "failed": "red"}.get(r.status.value, "yellow")
        table.add_row(
            Text(r.run_id),
            Text(r.stack),
            Text(r.orchestrator),
            Text(r.status.value, style=style),
            f"{sum(r.rows.values()):,}",
            _duration(r),
            Text(r.error or ""),
        )
    console.print(table)


def show_run(run_id: str, url: str | None, as_json: bool) -> None:
    """``stacks runs show RUN_ID``: the run's ledger row, field by field."""
    from stacks_core.ledger import Ledger

    with errors():
        warehouses = _warehouses(None, url)
    found: tuple[RunRecord, Warehouse] | None = None
    for warehouse in warehouses:
        with errors(warehouse):
            match = [r for r in Ledger(warehouse).read() or [] if r.run_id == run_id]
        if match:
            found = (match[0], warehouse)
            break
    shown = ", ".join(w.redacted_url() for w in warehouses) or f"./{DEFAULT_DUCKDB_DIR}/"
    if found is None:
        fail(f"No run {run_id!r} in the ledger of {shown}.", EXIT_CONFIG)
    record, warehouse = found
    if as_json:
        emit_json(record.model_dump(mode="json"), warehouse)
        return
    extra = ((record.seeds_built, "seeds"), (record.snapshots_built, "snapshots"))
    rows = [
        ("run id", record.run_id),
        ("stack", f"{record.stack} (orchestrator: {record.orchestrator}, {record.trigger.value})"),
        ("status", record.status.value),
        ("started", record.started_at.isoformat(timespec="seconds")),
        ("duration", _duration(record)),
        ("warehouse", warehouse.redacted_url()),
        ("EL steps", ", ".join(record.steps) or "-"),
        ("rows loaded", ", ".join(f"{t} {n:,}" for t, n in sorted(record.rows.items())) or "-"),
        ("models built", f"{record.models_built}" + "".join(f", {n} {k}" for n, k in extra if n)),
        (
            "tests",
            f"{record.tests_passed} passed, {record.tests_warned} warned, "
            f"{record.tests_failed} failed",
        ),
        ("nodes", ", ".join(record.models) or "-"),
        ("artifacts", record.artifacts or "-"),
        ("error", record.error or "-"),
    ]
    console = out()
    for label, value in rows:  # soft-wrapped: a path is never broken (users copy it)
        console.print(Text.assemble((f"{label:<12}  ", "bold"), value), soft_wrap=True)
