{{ config(enabled=var('stacks_test_broken', false), materialized='table') }}
-- a SQL error on purpose: the column does not exist
select no_such_column from {{ ref('stg_orders') }}
