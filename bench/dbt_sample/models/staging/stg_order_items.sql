select order_id, line, product_id, qty, price
from {{ source('raw', 'order_items') }}
