select id, name, country, '{{ var("stacks_run_id", "") }}' as _stacks_run_id
from {{ source('raw', 'customers') }}
