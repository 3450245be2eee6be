select customer_id, kind, count(*) as events, max(occurred_at) as last_at
from {{ ref('stg_events') }}
group by customer_id, kind
