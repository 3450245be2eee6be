select
    id as customer_id,
    first_name,
    last_name,
    country,
    cast(updated_at as timestamp) as updated_at
from {{ source('shop', 'customers') }}
