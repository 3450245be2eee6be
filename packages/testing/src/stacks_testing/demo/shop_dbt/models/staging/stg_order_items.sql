select
    order_id,
    line,
    product_id,
    quantity,
    cast(unit_price as decimal(12, 2)) as unit_price,
    cast(quantity * unit_price as decimal(12, 2)) as line_amount,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'orders__items') }}
