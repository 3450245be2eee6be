{{ config(materialized='view') }}
select id, customer_id, status, amount, created_at, updated_at
from {{ source('raw', 'orders') }}
