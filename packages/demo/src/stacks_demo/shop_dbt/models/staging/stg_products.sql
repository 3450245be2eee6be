select
    id as product_id,
    sku,
    name,
    category,
    cast(price as decimal(12, 2)) as price,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'products') }}
