{#- The shop's raw contract keeps an order's lines as the JSON array column orders.items (both
    el-dlt and Airbyte write it so). order_lines(relation) returns one row per line with typed
    columns; the JSON functions differ per warehouse, hence the dispatch. -#}
{% macro order_lines(relation) %}
    {{ return(adapter.dispatch('order_lines', 'shop')(relation)) }}
{% endmacro %}

{% macro postgres__order_lines(relation) %}
select
    o.id as order_id,
    cast(i.item ->> 'line' as integer) as line,
    cast(i.item ->> 'product_id' as bigint) as product_id,
    cast(i.item ->> 'quantity' as integer) as quantity,
    cast(i.item ->> 'unit_price' as double precision) as unit_price
from {{ relation }} as o
cross join lateral jsonb_array_elements(cast(o.items as jsonb)) as i(item)
{% endmacro %}

{% macro duckdb__order_lines(relation) %}
select
    o.id as order_id,
    cast(json_extract_string(i.item, '$.line') as integer) as line,
    cast(json_extract_string(i.item, '$.product_id') as bigint) as product_id,
    cast(json_extract_string(i.item, '$.quantity') as integer) as quantity,
    cast(json_extract_string(i.item, '$.unit_price') as double) as unit_price
from {{ relation }} as o
cross join unnest(cast(json_extract(cast(o.items as json), '$[*]') as json[])) as i(item)
{% endmacro %}
