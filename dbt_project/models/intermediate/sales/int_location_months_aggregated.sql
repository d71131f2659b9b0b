-- The sales lines summed per month x place (region, city tier, city) x channel_group x store x
-- distributor x line_type: what regional_coverage counts and sums per quarter and year, so
-- that the mart reads a few hundred thousand rows instead of every sales line (a quarter or
-- a year is a set of whole months; distinct stores, distributors and cities over a period are
-- the distinct values over its months' rows).
-- Incremental by month (dbt_project.yml, macro window_and_rebates).
with

lines as (

    select * from {{ ref('int_sales_lines_unioned') }}
    where {{ window_and_rebates('month') }}

),

aggregated as (

    select
        month,
        region,
        city_tier,
        city_code,
        channel_group,
        store_id,
        distributor_id,
        line_type,
        sum(net_sales) as net_sales,
        min(business_date) as first_business_date,
        max(business_date) as last_business_date,
        count(*) as sales_lines
    from lines
    group by month, region, city_tier, city_code, channel_group, store_id, distributor_id, line_type

)

select
    {{ grain_key(['month', 'region', 'city_tier', 'city_code', 'channel_group', 'store_id',
                  'distributor_id', 'line_type']) }} as location_month_id,
    *
from aggregated
