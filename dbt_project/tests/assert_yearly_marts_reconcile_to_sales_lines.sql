-- The whole-company yearly rows of regional_coverage (region 'all', city_tier 'all') and
-- product_line_performance (product_line 'all') carry the same net sales as the sales lines.
with

lines as (

    select {{ year_start('business_date') }} as year_start, sum(net_sales) as net_sales
    from {{ ref('int_sales_lines_unioned') }}
    group by {{ year_start('business_date') }}

),

coverage as (

    select period_start as year_start, net_sales
    from {{ ref('regional_coverage') }}
    where period_type = 'year' and region = 'all' and city_tier = 'all'

),

product_lines as (

    select period_start as year_start, net_sales
    from {{ ref('product_line_performance') }}
    where period_type = 'year' and product_line = 'all'

)

select 'regional_coverage' as mart, lines.year_start, lines.net_sales, coverage.net_sales as mart_net_sales
from lines
left join coverage on lines.year_start = coverage.year_start
where coverage.net_sales is null or coverage.net_sales <> lines.net_sales
union all
select 'product_line_performance', lines.year_start, lines.net_sales, product_lines.net_sales
from lines
left join product_lines on lines.year_start = product_lines.year_start
where product_lines.net_sales is null or product_lines.net_sales <> lines.net_sales
