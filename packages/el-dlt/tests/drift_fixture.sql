-- A Postgres source that changes the way real ones do (issue 28): column types widen, values no
-- Python type holds arrive, a relation becomes unreadable, a table without a cursor column is
-- updated. packages/el-dlt/tests/test_eldlt_drift.py drives it.

create type status as enum ('new', 'paid');

create table accounts (
    id integer primary key,
    price numeric(10, 2),
    qty integer,
    name varchar(10),
    code char(5),
    doc jsonb,
    tags text[],
    nums integer[],
    st status,
    ratio double precision,
    happened timestamptz,
    day date,
    at_time time,
    seen timestamp,
    updated_at timestamptz not null default '2024-01-01'
);
insert into accounts values
    (1, 1.25, 3, 'ann', 'ab', '{"a": [1, 2.5]}', '{x,"y z"}', '{1,NULL}', 'new', 0.5,
     '2024-01-01 10:00+00', '2024-01-01', '10:00', '2024-01-01 09:00', '2024-01-01'),
    (2, 2.50, 4, 'bob', 'cd', '[]', '{}', '{}', 'paid', 'NaN', '2024-01-02 10:00+00',
     '2024-01-02', '11:00', '2024-01-02 09:00', '2024-01-01'),
    (3, null, null, null, null, null, null, null, null, null, null, null, null, null, '2024-01-01');

-- keyed, no cursor column: read by xmin
create table notes (id integer primary key, body text);
insert into notes select g, 'note ' || g from generate_series(1, 20) g;

-- keyless: a snapshot every run
create table log (what text, n integer);
insert into log values ('a', 1), ('b', 2);

-- becomes unreadable (REFRESH ... WITH NO DATA) in one test
create materialized view totals as select st::text as st, count(*) as n from accounts group by 1;
