select id, customer_id, amount, status, '{{ var("stacks_run_id", "") }}' as _stacks_run_id
from {{ source('raw', 'orders') }}
