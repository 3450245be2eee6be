select
    id as customer_id,
    name,
    email,
    country,
    created_at,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'customers') }}
