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

summed as (

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
        count(*) as sales_lines
    from lines
    group by month, channel_group, channel, line_type

),

-- The distinct counts apart, over the sale lines only: their hash tables then hold the month,
-- the channel and the value, not the line type too, nor every other line's null (30M order
-- lines: the model alone 7.5-8.6 s against 9.3-9.7 s with count(distinct case ...) above).
sale_counts as (

    select
        month,
        channel_group,
        channel,
        'sale' as line_type,
        count(distinct order_id) as orders,
        count(distinct customer_id) as customers,
        count(distinct store_id) as active_stores,
        count(distinct distributor_id) as active_distributors
    from lines
    where line_type = 'sale'
    group by month, channel_group, channel

)

select
    {{ grain_key(['summed.month', 'summed.channel_group', 'summed.channel', 'summed.line_type']) }}
        as channel_month_id,
    summed.month,
    summed.channel_group,
    summed.channel,
    summed.line_type,
    summed.gross_sales,
    summed.discounts,
    summed.returns,
    summed.rebates,
    summed.net_sales,
    summed.cogs,
    summed.units,
    coalesce(sale_counts.orders, 0) as orders,
    coalesce(sale_counts.customers, 0) as customers,
    coalesce(sale_counts.active_stores, 0) as active_stores,
    coalesce(sale_counts.active_distributors, 0) as active_distributors,
    summed.sales_lines
from summed
left join sale_counts
    on summed.month = sale_counts.month
    and summed.channel_group = sale_counts.channel_group
    and summed.channel = sale_counts.channel
    and summed.line_type = sale_counts.line_type
