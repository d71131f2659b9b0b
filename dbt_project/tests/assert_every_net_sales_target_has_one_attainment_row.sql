-- target_attainment has exactly one row per net_sales target of finance (and no other rows).
-- Reads several models; shown in Dagster as a check of target_attainment.
{{ config(meta={'dagster': {'ref': {'name': 'target_attainment'}}}) }}
select
    targets.target_id,
    count(attainment.period_start) as attainment_rows
from {{ ref('stg_reference__targets') }} as targets
left join {{ ref('target_attainment') }} as attainment
    on targets.period_type = attainment.period_type
    and targets.period_start = attainment.period_start
    and targets.region = attainment.region
    and targets.channel_group = attainment.channel_group
    and targets.product_line = attainment.product_line
    and targets.series = attainment.series
where targets.metric = 'net_sales'
group by targets.target_id
having count(attainment.period_start) <> 1
union all
select
    'extra rows' as target_id,
    count(*) - (
        select count(*) from {{ ref('stg_reference__targets') }} as net_sales_targets
        where net_sales_targets.metric = 'net_sales'
    ) as attainment_rows
from {{ ref('target_attainment') }}
having
    count(*) <> (
        select count(*) from {{ ref('stg_reference__targets') }} as net_sales_targets
        where net_sales_targets.metric = 'net_sales'
    )
