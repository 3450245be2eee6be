select
    id as order_id,
    customer_id,
    status,
    amount,
    currency,
    created_at,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'orders') }}
