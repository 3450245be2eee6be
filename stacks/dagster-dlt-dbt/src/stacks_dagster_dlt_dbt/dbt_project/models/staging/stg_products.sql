select
    id as product_id,
    sku,
    name,
    category,
    price,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'products') }}
