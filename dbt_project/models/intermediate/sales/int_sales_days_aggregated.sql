-- The sales lines summed per business day x region x channel_group x product_line x series x
-- line_type: what target_attainment (scopes of region, channel group, product line, series;
-- periods measured to the day) and product_line_performance sum, so that they read a few
-- hundred thousand rows instead of every sales line.
-- Incremental by day (dbt_project.yml, macro window_and_rebates).
with

lines as (

    select * from {{ ref('int_sales_lines_unioned') }}
    where {{ window_and_rebates('day') }}

),

aggregated as (

    select
        business_date,
        region,
        channel_group,
        product_line,
        series,
        line_type,
        sum(gross_sales) as gross_sales,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as net_units,
        count(*) as sales_lines
    from lines
    group by business_date, region, channel_group, product_line, series, line_type

)

select
    {{ grain_key(['business_date', 'region', 'channel_group', 'product_line', 'series',
                  'line_type']) }} as sales_day_id,
    *
from aggregated
