select id, order_id, carrier, shipped_on, delivered
from {{ source('raw', 'shipments') }}
