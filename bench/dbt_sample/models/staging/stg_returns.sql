select id, order_id, reason, refund
from {{ source('raw', 'returns') }}
