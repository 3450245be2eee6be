{{ config(materialized='incremental', unique_key='id') }}
select
    id,
    customer_id,
    status,
    amount,
    cast(created_at as date) as order_date,
    updated_at,
    '{{ var("stacks_run_id", "manual") }}' as _stacks_run_id
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where updated_at > (select max(updated_at) from {{ this }})
{% endif %}
