{{ config(severity='warn') }}
-- Warns when mainland sales lines have no resolved city (receiver address, store or
-- distributor city not found in ref_cities): they count in the totals and in region 'all'
-- / city_tier 'all' only, so regional and coverage figures would be understated. In a build
-- over a business-date window, the lines that build wrote (macro rebuilt_sales_lines).
select
    channel_group,
    channel,
    count(*) as lines_without_city,
    sum(net_sales) as net_sales_without_city
from {{ ref('int_sales_lines_unioned') }}
where country = 'cn'
    and city_code is null
    and line_type <> 'extra_rebate'
    and {{ rebuilt_sales_lines() }}
group by channel_group, channel
