-- Reconciliation: every amount of channel_performance adds up to the unified sales lines, per
-- month and channel group (no line lost or double-counted by the mart). In a build over a
-- business-date window, the months it rebuilt (macro rebuilt_months), not the whole history.
-- Reads several models; shown in Dagster as a check of channel_performance.
{{ config(meta={'dagster': {'ref': {'name': 'channel_performance'}}}) }}
with

mart as (

    select
        month,
        channel_group,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(returns) as returns,
        sum(rebates) as rebates,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(units) as units
    from {{ ref('channel_performance') }}
    where {{ rebuilt_months('month') }}
    group by month, channel_group

),

lines as (

    select
        month,
        channel_group,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(returns) as returns,
        sum(rebates) as rebates,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as units
    from {{ ref('int_sales_lines_unioned') }}
    where {{ rebuilt_months('business_date') }}
    group by month, channel_group

)

select
    coalesce(mart.month, lines.month) as month,
    coalesce(mart.channel_group, lines.channel_group) as channel_group,
    mart.net_sales as mart_net_sales,
    lines.net_sales as lines_net_sales
from mart
full outer join lines
    on mart.month = lines.month
    and mart.channel_group = lines.channel_group
where mart.channel_group is null
    or lines.channel_group is null
    or mart.gross_sales <> lines.gross_sales
    or mart.discounts <> lines.discounts
    or mart.returns <> lines.returns
    or mart.rebates <> lines.rebates
    or mart.net_sales <> lines.net_sales
    or mart.cogs <> lines.cogs
    or mart.units <> lines.units
