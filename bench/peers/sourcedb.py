"""The source databases the peers copy, built server-side in Postgres (``generate_series``), so a
database of 1M rows takes seconds and every copy of it is byte-identical.

* :func:`keyed_table`: ``public.orders``, 1M rows in a full run: bigint key, int, text,
  numeric(12,2), jsonb, timestamptz (the issue's shape); :func:`change_1pct` moves 1% of them
  past every cursor value, the same rows every time.
* :func:`sample_schema`: a small app database of our own making, 23 relations: 16 tables (one
  keyless, one partitioned into 3 partitions, which load through their parent), 5 views and 2
  materialized views, with keys, cursors, NULLs and every column type :mod:`verify` knows.
"""

from __future__ import annotations

from typing import Any

ORDERS_DDL = """
create table public.orders (
    id bigint primary key,
    customer_id integer not null,
    status text not null,
    amount numeric(12,2) not null,
    attrs jsonb,
    updated_at timestamptz not null
)"""

# deterministic from the id alone; updated_at spreads over ~58 days so the cursor has ties
ORDERS_FILL = """
insert into public.orders
select i,
       ((i::bigint * 7919) % 200000)::int,
       (array['placed','paid','shipped','delivered','cancelled'])[1 + i % 5],
       round(((i * 2654435761) % 1000000) / 100.0, 2),
       case when i % 50 = 0 then null
            else jsonb_build_object('channel', (array['web','app','store'])[1 + i % 3],
                                    'items', 1 + i % 9) end,
       timestamptz '2024-01-01 00:00:00+00' + (i % 5000000) * interval '1 second'
from generate_series(1, {rows}) as i"""


def keyed_table(conn: Any, rows: int) -> None:
    """Create and fill ``public.orders`` with ``rows`` rows (ids 1..rows), then analyse it."""
    conn.execute(ORDERS_DDL)
    conn.execute(ORDERS_FILL.format(rows=int(rows)))
    conn.execute("analyze public.orders")


def change_1pct(conn: Any) -> int:
    """Rewrite 1% of the rows (ids ending in 07, evenly spread) with a later ``updated_at`` than
    any row has: what an incremental run must pick up. Returns the rows changed."""
    cur = conn.execute(
        "update public.orders set status = 'changed', amount = amount + 1, "
        "updated_at = (select max(updated_at) from public.orders) + interval '1 hour' "
        "where id % 100 = 7"
    )
    return cur.rowcount


#: the sample database: name -> DDL + fill. ``{n}`` scales with --rows (a tenth of it, >= 1000).
SAMPLE: tuple[tuple[str, str], ...] = (
    (
        "regions",
        "create table regions (id integer primary key, name text not null, created_on date);"
        "insert into regions select i, 'region ' || i, date '2020-01-01' + i "
        "from generate_series(1, 20) i",
    ),
    (
        "customers",
        "create table customers (id bigint primary key, region_id integer references regions, "
        "email text, vip boolean, profile jsonb, updated_at timestamptz not null);"
        "insert into customers select i, 1 + i % 20, 'c' || i || '@example.com', i % 10 = 0, "
        "case when i % 3 = 0 then null else jsonb_build_object('lang', "
        "(array['en','de','fr'])[1 + i % 3]) end, "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' "
        "from generate_series(1, {n}) i",
    ),
    (
        "products",
        "create table products (id integer primary key, sku text not null, price numeric(12,2), "
        "active boolean not null, updated_at timestamptz not null);"
        "insert into products select i, 'SKU-' || lpad(i::text, 5, '0'), round(i * 1.37, 2), "
        "i % 7 <> 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 hour' "
        "from generate_series(1, 500) i",
    ),
    (
        "orders",
        "create table orders (id bigint primary key, customer_id bigint not null, status text, "
        "total numeric(12,2), placed_on date, updated_at timestamptz not null);"
        "insert into orders select i, 1 + (i * 31) % {n}, "
        "(array['placed','paid','shipped'])[1 + i % 3], round((i % 1000) * 1.11, 2), "
        "date '2024-01-01' + i % 365, timestamptz '2024-01-01 00:00:00+00' + i * interval '7 s' "
        "from generate_series(1, 2 * {n}) i",
    ),
    (
        "order_items",
        "create table order_items (order_id bigint not null, line integer not null, "
        "product_id integer not null, qty integer not null, price numeric(12,2), "
        "primary key (order_id, line));"
        "insert into order_items select o, l, 1 + (o * l) % 500, 1 + (o + l) % 4, "
        "round(((o * l) % 500) * 1.37, 2) "
        "from generate_series(1, 2 * {n}) o, generate_series(1, 2) l",
    ),
    (
        "payments",
        "create table payments (id bigint primary key, order_id bigint not null, "
        "amount numeric(12,2) not null, method text, paid_at timestamptz, "
        "updated_at timestamptz not null);"
        "insert into payments select i, i, round((i % 1000) * 1.11, 2), "
        "(array['card','invoice',null])[1 + i % 3], "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '9 s', "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '9 s' "
        "from generate_series(1, {n}) i",
    ),
    (
        "shipments",
        "create table shipments (id bigint primary key, order_id bigint not null, "
        "carrier text, shipped_on date, delivered boolean, updated_at timestamptz not null);"
        "insert into shipments select i, i * 2, (array['dhl','ups'])[1 + i % 2], "
        "date '2024-01-02' + i % 365, i % 4 = 0, "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '11 s' "
        "from generate_series(1, {n}) i",
    ),
    (
        "returns",
        "create table returns (id bigint primary key, order_id bigint not null, reason text, "
        "refund numeric(12,2), updated_at timestamptz not null);"
        "insert into returns select i, i * 13, 'reason ' || (i % 5), round(i * 0.5, 2), "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 h' "
        "from generate_series(1, {n} / 20) i",
    ),
    (
        "suppliers",
        "create table suppliers (id integer primary key, name text not null, rating integer);"
        "insert into suppliers select i, 'supplier ' || i, i % 5 from generate_series(1, 50) i",
    ),
    (
        "product_suppliers",
        "create table product_suppliers (product_id integer not null, supplier_id integer not "
        "null, cost numeric(12,2), primary key (product_id, supplier_id));"
        "insert into product_suppliers select p, 1 + (p + s * 7) % 50, round(p * 0.9, 2) "
        "from generate_series(1, 500) p, generate_series(1, 2) s",
    ),
    (
        "inventory",
        "create table inventory (product_id integer primary key, on_hand integer not null, "
        "updated_at timestamptz not null);"
        "insert into inventory select i, (i * 17) % 300, "
        "timestamptz '2024-03-01 00:00:00+00' + i * interval '1 min' "
        "from generate_series(1, 500) i",
    ),
    (
        "employees",
        "create table employees (id integer primary key, name text, manager_id integer, "
        "hired_on date, salary numeric(12,2));"
        "insert into employees select i, 'employee ' || i, nullif(i / 10, 0), "
        "date '2015-01-01' + i * 11, 30000 + i * 100 from generate_series(1, 200) i",
    ),
    (
        "tickets",
        "create table tickets (id bigint primary key, customer_id bigint, subject text, "
        "body text, opened_at timestamptz, closed boolean, updated_at timestamptz not null);"
        "insert into tickets select i, 1 + i % {n}, 'subject ' || i, "
        "repeat('text ', 1 + i % 20), timestamptz '2024-01-01 00:00:00+00' + i * interval '5 m', "
        "i % 3 = 0, timestamptz '2024-01-01 00:00:00+00' + i * interval '5 m' "
        "from generate_series(1, {n} / 4) i",
    ),
    (
        "events",
        "create table events (id bigint primary key, customer_id bigint, kind text, "
        "props jsonb, occurred_at timestamptz not null);"
        "insert into events select i, 1 + i % {n}, (array['view','cart','buy'])[1 + i % 3], "
        "jsonb_build_object('page', i % 40), "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '3 s' "
        "from generate_series(1, {n}) i",
    ),
    (
        "audit_log",  # keyless: a snapshot every run
        "create table audit_log (actor text, action text, logged_at timestamptz);"
        "insert into audit_log select 'user ' || (i % 30), (array['login','logout'])[1 + i % 2], "
        "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 m' "
        "from generate_series(1, {n} / 10) i",
    ),
    (
        "page_views",  # partitioned: loads once, through its parent
        "create table page_views (id bigint not null, day date not null, path text, "
        "ms integer, updated_at timestamptz not null, primary key (id, day)) "
        "partition by range (day);"
        "create table page_views_2024q1 partition of page_views "
        "for values from ('2024-01-01') to ('2024-04-01');"
        "create table page_views_2024q2 partition of page_views "
        "for values from ('2024-04-01') to ('2024-07-01');"
        "create table page_views_rest partition of page_views default;"
        "insert into page_views select i, date '2024-01-01' + i % 300, '/p/' || (i % 50), "
        "(i * 37) % 2000, timestamptz '2024-01-01 00:00:00+00' + i * interval '2 s' "
        "from generate_series(1, {n}) i",
    ),
    (
        "v_order_totals",
        "create view v_order_totals as select o.id, o.customer_id, o.total, "
        "coalesce(sum(i.qty), 0)::bigint as items from orders o "
        "left join order_items i on i.order_id = o.id group by o.id, o.customer_id, o.total",
    ),
    (
        "v_vip_customers",
        "create view v_vip_customers as select id, email, updated_at from customers where vip",
    ),
    (
        "v_open_tickets",
        "create view v_open_tickets as select id, customer_id, subject from tickets "
        "where not closed",
    ),
    (
        "v_region_customers",
        "create view v_region_customers as select r.name, count(c.id)::bigint as customers "
        "from regions r left join customers c on c.region_id = r.id group by r.name",
    ),
    (
        "v_product_stock",
        "create view v_product_stock as select p.sku, i.on_hand from products p "
        "join inventory i on i.product_id = p.id",
    ),
    (
        "mv_daily_revenue",
        "create materialized view mv_daily_revenue as select placed_on, "
        "sum(total) as revenue, count(*)::bigint as orders from orders group by placed_on",
    ),
    (
        "mv_supplier_costs",
        "create materialized view mv_supplier_costs as select supplier_id, "
        "sum(cost) as cost from product_suppliers group by supplier_id",
    ),
)


def sample_schema(conn: Any, rows: int) -> list[str]:
    """Create the sample database in ``public`` at ``rows`` (a tenth of them as customers, at
    least 1000); returns the 23 relation names a whole-schema copy must produce."""
    n = max(1000, rows // 10)
    for _name, ddl in SAMPLE:
        for statement in ddl.split(";"):
            conn.execute(statement.replace("{n}", str(n)))
    conn.execute("analyze")
    return [name for name, _ddl in SAMPLE]
