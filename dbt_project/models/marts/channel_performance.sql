-- One row per month x channel_group x channel with sales in that month.
-- Sums over months give the annual amounts; annual ratios are recomputed from the sums
-- (e.g. FY sales_per_store_month = Σ store gross_sales / Σ active_stores over the months,
-- since a store-month is a store with sales in that month).
with

channel_months as (

    -- the sales lines aggregated per month x channel x line_type (distinct counts on sale lines)
    select * from {{ ref('int_channel_months_aggregated') }}

),

channels as (

    select * from {{ ref('ref_channels') }}

),

monthly as (

    select
        month,
        channel_group,
        channel,
        sum(gross_sales) as gross_sales,
        sum(discounts) as discounts,
        sum(returns) as returns,
        sum(rebates) as rebates,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(units) as units,
        sum(orders) as orders,
        sum(customers) as customers,
        sum(active_stores) as active_stores,
        sum(active_distributors) as active_distributors
    from channel_months
    group by month, channel_group, channel

),

with_shares as (

    select
        monthly.*,
        sum(net_sales) over (partition by month, channel_group) as group_net_sales,
        sum(net_sales) over (partition by month) as total_net_sales,
        sum(gross_sales) over (partition by month, channel_group) as group_gross_sales
    from monthly

),

with_prior_year as (

    select
        with_shares.*,
        prior_year.net_sales as prior_year_net_sales,
        prior_year.gross_sales as prior_year_gross_sales
    from with_shares
    left join monthly as prior_year
        on prior_year.month = {{ prior_year('with_shares.month') }}
        and with_shares.channel_group = prior_year.channel_group
        and with_shares.channel = prior_year.channel

),

with_names as (

    select
        with_prior_year.*,
        channels.channel_group_name_zh,
        channels.channel_name_zh
    from with_prior_year
    left join channels
        on with_prior_year.channel = channels.channel

)

select
    month,
    channel_group,
    channel_group_name_zh,
    channel,
    channel_name_zh,
    cast(gross_sales as decimal(18, 2)) as gross_sales,
    cast(discounts as decimal(18, 2)) as discounts,
    cast(returns as decimal(18, 2)) as returns,
    cast(rebates as decimal(18, 2)) as rebates,
    cast(net_sales as decimal(18, 2)) as net_sales,
    cast(cogs as decimal(18, 2)) as cogs,
    cast(net_sales - cogs as decimal(18, 2)) as gross_margin,
    {{ safe_ratio('net_sales - cogs', 'net_sales') }} as gross_margin_rate,
    cast(orders as bigint) as orders,
    cast(units as bigint) as units,
    cast(customers as bigint) as customers,
    case when orders > 0 then {{ money('net_sales / orders') }} end as avg_order_value,
    {{ safe_ratio('net_sales', 'group_net_sales') }} as share_of_group,
    {{ safe_ratio('net_sales', 'total_net_sales') }} as share_of_total,
    {{ safe_ratio('gross_sales', 'group_gross_sales') }} as share_of_group_gross_sales,
    {{ safe_ratio('net_sales - prior_year_net_sales', 'prior_year_net_sales') }} as yoy_growth_rate,
    {{ safe_ratio('gross_sales - prior_year_gross_sales', 'prior_year_gross_sales') }}
        as gross_sales_yoy_growth_rate,
    case
        when channel_group = 'store' then cast(active_stores as bigint)
    end as active_stores,
    case
        when channel_group = 'store' and active_stores > 0
            then {{ money('gross_sales / active_stores') }}
    end as sales_per_store_month,
    case
        when channel_group = 'distributor' then cast(active_distributors as bigint)
    end as active_distributors
from with_names
