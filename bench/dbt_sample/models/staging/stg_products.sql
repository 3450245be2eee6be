select id, sku, price, active
from {{ source('raw', 'products') }}
