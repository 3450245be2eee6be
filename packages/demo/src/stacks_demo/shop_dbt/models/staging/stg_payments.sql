select
    id as payment_id,
    order_id,
    method,
    cast(amount as decimal(12, 2)) as amount,
    status,
    created_at,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'payments') }}
