-- The sales lines summed per month x channel_group x channel x line_type: what
-- channel_performance reports, so that the mart reads a few thousand rows instead of every
-- sales line. Distinct counts (orders, customers, active stores and distributors) are taken on
-- sale lines and are exact per month: each month is aggregated whole.
-- Incremental by month (dbt_project.yml, macro window_and_rebates).
with

lines as (

    select * from {{ ref('int_sales_lines_unioned') }}
    where {{ window_and_rebates('month') }}

),

aggregated as (

    select
        month,
        channel_group,
        channel,
        line_type,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(returns) as returns,
        sum(rebates) as rebates,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as units,
        count(distinct case when line_type = 'sale' then order_id end) as orders,
        count(distinct case when line_type = 'sale' then customer_id end) as customers,
        count(distinct case when line_type = 'sale' then store_id end) as active_stores,
        count(distinct case when line_type = 'sale' then distributor_id end) as active_distributors,
        count(*) as sales_lines
    from lines
    group by month, channel_group, channel, line_type

)

select
    {{ grain_key(['month', 'channel_group', 'channel', 'line_type']) }} as channel_month_id,
    *
from aggregated
