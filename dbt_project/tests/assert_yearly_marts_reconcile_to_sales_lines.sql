-- The whole-company yearly rows of regional_coverage (region 'all', city_tier 'all') and
-- product_line_performance (product_line 'all') carry the same net sales as the sales lines.
-- Checked through the months, so that a build over a business-date window reads the sales
-- lines of the months it rebuilt only (macro rebuilt_months; every month without a window):
-- the monthly 'all' rows of product_line_performance equal the sales lines of their month,
-- and each yearly row equals the sum of its year's monthly rows (marts only: a few rows).
-- Reads several models; shown in Dagster as a check of product_line_performance.
{{ config(meta={'dagster': {'ref': {'name': 'product_line_performance'}}}) }}
with

lines as (

    select
        month,
        sum(net_sales) as net_sales
    from {{ ref('int_sales_lines_unioned') }}
    where {{ rebuilt_months('business_date') }}
    group by month

),

months as (

    select
        period_start as month,
        net_sales
    from {{ ref('product_line_performance') }}
    where period_type = 'month' and product_line = 'all'

),

years as (

    select
        {{ year_start('month') }} as year_start,
        sum(net_sales) as net_sales
    from months
    group by {{ year_start('month') }}

),

coverage as (

    select
        period_start as year_start,
        net_sales
    from {{ ref('regional_coverage') }}
    where period_type = 'year' and region = 'all' and city_tier = 'all'

),

product_lines as (

    select
        period_start as year_start,
        net_sales
    from {{ ref('product_line_performance') }}
    where period_type = 'year' and product_line = 'all'

),

rebuilt_months as (

    select * from months
    where {{ rebuilt_months('month') }}

)

select
    'product_line_performance (month)' as mart,
    coalesce(lines.month, rebuilt_months.month) as period_start,
    lines.net_sales,
    rebuilt_months.net_sales as mart_net_sales
from lines
full outer join rebuilt_months on lines.month = rebuilt_months.month
where lines.net_sales is null
    or rebuilt_months.net_sales is null
    or rebuilt_months.net_sales <> lines.net_sales
union all
select
    'regional_coverage' as mart,
    years.year_start as period_start,
    years.net_sales,
    coverage.net_sales as mart_net_sales
from years
left join coverage on years.year_start = coverage.year_start
where coverage.net_sales is null or coverage.net_sales <> years.net_sales
union all
select
    'product_line_performance' as mart,
    years.year_start as period_start,
    years.net_sales,
    product_lines.net_sales as mart_net_sales
from years
left join product_lines on years.year_start = product_lines.year_start
where product_lines.net_sales is null or product_lines.net_sales <> years.net_sales
