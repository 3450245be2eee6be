-- Money is cast to decimal here: sums of doubles depend on row order, so a mart rebuilt from
-- the same rows could differ in the last digit (and in its fingerprint).
select
    id as order_id,
    customer_id,
    status,
    cast(amount as decimal(12, 2)) as amount,
    currency,
    created_at,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('shop', 'orders') }}
