select id, region_id, email, vip, updated_at
from {{ source('raw', 'customers') }}
