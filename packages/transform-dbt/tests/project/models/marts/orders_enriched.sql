{{ config(materialized='incremental', unique_key='id') }}

select
    o.id,
    o.customer_id,
    c.country,
    o.status,
    o.amount,
    o.updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('stg_orders') }} as o
left join {{ ref('stg_customers') }} as c on c.id = o.customer_id
{% if is_incremental() %}
where o.updated_at > (select max(updated_at) from {{ this }})
{% endif %}
