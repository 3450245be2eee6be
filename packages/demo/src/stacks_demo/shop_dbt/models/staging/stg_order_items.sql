-- One row per order line, unnested from the JSON array orders.items (the raw contract).
with lines as (
    {{ order_lines(source('shop', 'orders')) }}
)

select
    order_id,
    line,
    product_id,
    quantity,
    cast(unit_price as decimal(12, 2)) as unit_price,
    cast(quantity * unit_price as decimal(12, 2)) as line_amount,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from lines
