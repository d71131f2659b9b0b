-- The allocation of rebates to goods lines neither creates nor loses a cent: per rebate, the
-- allocated rows add up to the rebate line (or the computed extra rebate).
-- Reads several models; shown in Dagster as a check of int_distributor_rebates_allocated.
{{ config(meta={'dagster': {'ref': {'name': 'int_distributor_rebates_allocated'}}}) }}
with

allocated as (

    select
        rebate_id,
        max(rebate_amount) as rebate_amount,
        sum(rebates) as allocated
    from {{ ref('int_distributor_rebates_allocated') }}
    group by rebate_id

),

expected as (

    select
        sales_line_id as rebate_id,
        rebates as rebate_amount
    from {{ ref('int_distributor_sales_lines') }}
    where line_type = 'rebate' and reject_reason is null
    union all
    select
        'distributor-extra-rebate-' || distributor_month_id as rebate_id,
        extra_rebate as rebate_amount
    from {{ ref('int_distributor_rebates_computed') }}
    where extra_rebate <> 0

)

select
    coalesce(expected.rebate_id, allocated.rebate_id) as rebate_id,
    expected.rebate_amount,
    allocated.allocated
from expected
full outer join allocated on expected.rebate_id = allocated.rebate_id
where expected.rebate_id is null
    or allocated.rebate_id is null
    or allocated.allocated <> expected.rebate_amount
