-- A small source database with every Postgres type category and every table shape the SQL step
-- must replicate (packages/el-dlt/README.md, "Postgres types"). Edge values on purpose: NULLs,
-- large-scale numerics, timetz with offsets, negative intervals, unicode, empty arrays.

create type mood as enum ('sad', 'ok', 'happy');
create domain positive_int as integer check (value > 0);
create domain short_text as varchar(20);

-- keyed, with a cursor: merged incrementally
create table every_type (
    id bigint primary key,
    i2 smallint,
    i4 integer,
    i8 bigint,
    num_scaled numeric(12, 3),
    num_unbounded numeric,
    num_wide numeric(50, 20),
    real4 real,
    dbl double precision,
    cash money,
    txt text,
    vc varchar(10),
    ch char(4),
    md mood,
    dom_int positive_int,
    dom_txt short_text,
    uid uuid,
    flag boolean,
    d date,
    t time,
    ttz timetz,
    ts timestamp,
    tstz timestamptz,
    iv interval,
    bin bytea,
    js json,
    jsb jsonb,
    ip inet,
    net cidr,
    tsv tsvector,
    r_int int4range,
    r_ts tstzrange,
    a_int integer[],
    a_num numeric[],
    a_txt text[],
    a_md mood[],
    a_uid uuid[],
    a_bool boolean[],
    a_d date[],
    a_ttz timetz[],
    a_tstz timestamptz[],
    a_iv interval[],
    a_bin bytea[],
    a_jsb jsonb[],
    a_ip inet[],
    a_2d integer[][],
    updated_at timestamptz not null default '2024-01-01 00:00:00+00'
);

insert into every_type values
(1, -32768, -2147483648, -9223372036854775808, -123456789.123,
 123456789012345678901234567890.123456789012345678901, 1234567890123456789012345678.12345678901234567890,
 3.5, 2.718281828459045, '-92233720368547758.08', 'héllo wörld ✓ 日本語', 'ten chars!', 'ab',
 'sad', 1, 'short', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '0001-01-01', '00:00:00',
 '23:59:59.999999+14:00', '1970-01-01 00:00:00', '2024-02-29 12:34:56.789012+05:30',
 '-1 year -2 months -3 days -04:05:06.7', '\x00ff10', '{"a": [1, 2.5, null], "b": "ü"}',
 '{"nested": {"x": true}, "n": 12345678901234567890}', '192.168.0.1', '10.0.0.0/8',
 'the quick brown fox', '[1,10)', '[2024-01-01 00:00+00,2024-02-01 00:00+00)',
 '{1,NULL,-3}', '{1.5,NULL,123456789012345678901234567890.5}', '{"a","b c","","ü"}',
 '{happy,sad}', '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{t,f,NULL}', '{2024-01-01,NULL}',
 '{10:00:00-03:30}', '{"2024-01-01 00:00:00+00"}', '{"1 day","-00:00:01"}', '{"\\x00ff",NULL}',
 array['{"k": 1}'::jsonb, 'null'::jsonb], '{::1,127.0.0.1}', '{{1,2},{3,4}}',
 '2024-01-01 00:00:00+00'),
(2, 32767, 2147483647, 9223372036854775807, 999999999.999,
 -0.000000000000000000000000000001, -0.00000000000000000001,
 -1.25e-10, -1e300, '92233720368547758.07', '', '', 'abcd', 'happy', 2147483647, '',
 '00000000-0000-0000-0000-000000000000', false, '9999-12-31', '23:59:59.999999',
 '00:00:00-12:00', '9999-12-31 23:59:59.999999', '1900-01-01 00:00:00+00',
 '0 seconds', '\x', '[]', '{}', '::ffff:1.2.3.4', '2001:db8::/32', '', 'empty', '(,)',
 '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}',
 '2024-01-01 00:00:00+00'),
(3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
 null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
 null, null, null, null, null, null, null, null, null, null, null, null, null, null,
 '2024-01-01 00:00:00+00');

-- keyless: replaced as a snapshot
create table events_log (happened date, what text, amount numeric(10, 2));
insert into events_log values ('2024-01-01', 'open', 1.5), ('2024-01-01', 'open', 1.5),
    ('2024-01-02', 'close', null);

-- composite key, no cursor column: merged on the full scan
create table order_lines (order_id integer, line_no smallint, sku text, qty integer,
    primary key (order_id, line_no));
insert into order_lines select o, l, 'sku-' || o || '-' || l, o * l
    from generate_series(1, 5) o, generate_series(1, 3) l;

-- partitioned: loaded once through its parent, never per partition
create table measurements (id integer, taken date not null, value double precision,
    modified_at timestamp, primary key (id, taken)) partition by range (taken);
create table measurements_2023 partition of measurements
    for values from ('2023-01-01') to ('2024-01-01');
create table measurements_2024 partition of measurements
    for values from ('2024-01-01') to ('2025-01-01');
insert into measurements values (1, '2023-06-01', 1.5, '2024-01-01 00:00'),
    (2, '2024-06-01', 2.5, '2024-01-02 00:00'), (3, '2024-07-01', null, '2024-01-03 00:00');

create view big_lines as select order_id, sku, qty from order_lines where qty > 4;
create materialized view line_totals as
    select order_id, sum(qty) as total from order_lines group by order_id;
