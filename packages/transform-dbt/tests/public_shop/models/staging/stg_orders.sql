select
    id as order_id,
    customer_id,
    status,
    {{ shop_utils.cents_to_dollars('amount_cents') }} as amount,
    cast(updated_at as timestamp) as updated_at
from {{ source('shop', 'orders') }}
