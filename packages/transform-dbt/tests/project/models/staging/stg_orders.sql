select
    id,
    customer_id,
    status,
    amount,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'orders') }}
