-- One row per period_type ('month' | 'quarter' | 'year') x period_start x product_line, with a
-- product_line 'all' row per period. Distributor rebates are allocated to the goods lines'
-- products upstream (int_distributor_rebates_allocated); the rare rebate of a month without
-- goods lines has no product and is shown as product_line 'unallocated', so that the product
-- lines of a period always add up to its 'all' row (share_of_total is over all net sales).
{%- set period_types = ['month', 'quarter', 'year'] %}
with

lines as (

    -- the sales lines summed per day and product line
    select
        business_date,
        coalesce(product_line, 'unallocated') as product_line,
        sum(gross_sales) as gross_sales,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as net_units
    from {{ ref('int_sales_days_aggregated') }}
    group by business_date, coalesce(product_line, 'unallocated')

),

product_lines as (

    select * from {{ ref('ref_product_lines') }}

),

periodised as (

    {%- for period_type in period_types %}
    select
        '{{ period_type }}' as period_type,
        cast({{ dbt.date_trunc(period_type, 'business_date') }} as date) as period_start,
        lines.*
    from lines
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

aggregated as (

    select
        period_type,
        period_start,
        product_line,
        sum(gross_sales) as gross_sales,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as units
    from periodised
    group by period_type, period_start, product_line
    union all
    select
        period_type,
        period_start,
        'all' as product_line,
        sum(gross_sales) as gross_sales,
        sum(net_sales) as net_sales,
        sum(cogs) as cogs,
        sum(net_units) as units
    from periodised
    group by period_type, period_start

),

with_totals as (

    select
        aggregated.*,
        sum(case when product_line = 'all' then net_sales end)
            over (partition by period_type, period_start) as total_net_sales
    from aggregated

)

select
    with_totals.period_type,
    with_totals.period_start,
    with_totals.product_line,
    case
        when with_totals.product_line = 'all' then '全部'
        when with_totals.product_line = 'unallocated' then '未分配（返利）'
        else product_lines.product_line_name_zh
    end as product_line_name_zh,
    cast(with_totals.gross_sales as decimal(18, 2)) as gross_sales,
    cast(with_totals.net_sales as decimal(18, 2)) as net_sales,
    cast(with_totals.cogs as decimal(18, 2)) as cogs,
    cast(with_totals.net_sales - with_totals.cogs as decimal(18, 2)) as gross_margin,
    {{ safe_ratio('with_totals.net_sales - with_totals.cogs', 'with_totals.net_sales') }}
        as gross_margin_rate,
    cast(with_totals.units as bigint) as units,
    {{ safe_ratio('with_totals.net_sales', 'with_totals.total_net_sales') }} as share_of_total,
    {{ safe_ratio('with_totals.net_sales - prior_year.net_sales', 'prior_year.net_sales') }}
        as yoy_growth_rate
from with_totals
left join product_lines on with_totals.product_line = product_lines.product_line
left join with_totals as prior_year
    on with_totals.period_type = prior_year.period_type
    and prior_year.period_start = {{ prior_year('with_totals.period_start') }}
    and with_totals.product_line = prior_year.product_line
