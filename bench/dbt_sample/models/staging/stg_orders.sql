select id, customer_id, status, total, placed_on, updated_at
from {{ source('raw', 'orders') }}
