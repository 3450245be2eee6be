select id, customer_id, kind, at
from {{ source('raw', 'events') }}
