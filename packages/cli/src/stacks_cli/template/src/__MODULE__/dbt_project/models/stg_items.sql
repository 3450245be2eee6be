-- every row carries the run that built it (the conformance suite checks it)
select
    id,
    name,
    price,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ source('raw', 'items') }}
