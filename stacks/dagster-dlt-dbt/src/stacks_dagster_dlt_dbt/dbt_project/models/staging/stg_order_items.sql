select
    order_id,
    line,
    product_id,
    quantity,
    unit_price,
    quantity * unit_price as line_amount,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'orders__items') }}
