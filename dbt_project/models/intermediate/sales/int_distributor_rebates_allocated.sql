-- Distributor rebates allocated to products (data/raw/README.md): each rebate of a
-- distributor-month, i.e. each standard rebate line (月度返利) and the tiered extra rebate of
-- int_distributor_rebates_computed, is spread over that distributor-month's goods lines in
-- proportion to their 进货金额, rounded to cents, the remainder going to the line with the
-- largest 进货金额 (then the lowest Excel row), so that net sales by product line and series add
-- up to the total.
-- One row per rebate x goods line of its distributor-month, in the unified sales-line shape:
-- line_type 'rebate' or 'extra_rebate', the rebate's date and lineage, the goods line's SKU,
-- series and product line. A rebate of a month without goods lines stays one unallocated row
-- (no SKU). Months are business-date months.
-- Incremental (dbt_project.yml): a build rebuilds the rebates from its window's first month to
-- the end of its year (window_grain rest_of_year), reading the distributor lines and computed
-- extra rebates of those months only. A month's allocation needs only that month's lines; its
-- extra rebate (int_distributor_rebates_computed, a full table) accrues year to date, so it
-- moves with every earlier month of its year and never with a later one.
with

distributor_lines as (

    select * from {{ ref('int_distributor_sales_lines') }}
    where reject_reason is null
        and {{ incremental_window('business_date', 'rest_of_year') }}

),

rebate_events as (

    select
        sales_line_id as rebate_id,
        'rebate' as line_type,
        distributor_id,
        month,
        business_date,
        rebates as rebate_amount,
        region,
        province,
        city_code,
        city_tier,
        _source_file,
        _source_row,
        _loaded_at
    from distributor_lines
    where line_type = 'rebate'

    union all

    select
        'distributor-extra-rebate-' || rebates.distributor_month_id as rebate_id,
        'extra_rebate' as line_type,
        rebates.distributor_id,
        rebates.month,
        rebates.last_business_date as business_date,
        rebates.extra_rebate as rebate_amount,
        distributors.region,
        distributors.province_code as province,
        distributors.city_code,
        distributors.city_tier,
        cast(null as {{ dbt.type_string() }}) as _source_file,
        cast(null as {{ dbt.type_bigint() }}) as _source_row,
        cast(null as {{ dbt.type_timestamp() }}) as _loaded_at
    from {{ ref('int_distributor_rebates_computed') }} as rebates
    inner join {{ ref('int_distributors_located') }} as distributors
        on rebates.distributor_id = distributors.distributor_id
    where rebates.extra_rebate <> 0
        and {{ incremental_window('rebates.month', 'rest_of_year') }}

),

goods_lines as (

    select
        distributor_id,
        month,
        sku,
        series,
        product_line,
        net_sales as invoiced_amount,
        _source_row as goods_source_row,
        sum(net_sales) over (partition by distributor_id, month) as month_invoiced_amount,
        row_number() over (
            partition by distributor_id, month
            order by net_sales desc, _source_row asc, sales_line_id asc
        ) as weight_rank
    from distributor_lines
    where line_type = 'sale'

),

proportional as (

    select
        rebate_events.*,
        goods_lines.sku,
        goods_lines.series,
        goods_lines.product_line,
        goods_lines.goods_source_row,
        goods_lines.weight_rank,
        case
            when goods_lines.goods_source_row is null then rebate_events.rebate_amount
            when goods_lines.month_invoiced_amount = 0
                then
                    case
                        when goods_lines.weight_rank = 1 then rebate_events.rebate_amount
                        else 0
                    end
            else {{ money(
                'rebate_events.rebate_amount * goods_lines.invoiced_amount'
                ~ ' / goods_lines.month_invoiced_amount'
            ) }}
        end as proportional_rebate
    from rebate_events
    left join goods_lines
        on rebate_events.distributor_id = goods_lines.distributor_id
        and rebate_events.month = goods_lines.month

),

allocated as (

    select
        proportional.*,
        cast(
            proportional_rebate
            + case
                when weight_rank = 1
                    then rebate_amount - sum(proportional_rebate) over (partition by rebate_id)
                else 0
            end
            as decimal(18, 2)
        ) as allocated_rebate
    from proportional

)

select
    case
        when goods_source_row is null then rebate_id
        else rebate_id || '-on-row-' || cast(goods_source_row as {{ dbt.type_string() }})
    end as sales_line_id,
    line_type,
    business_date,
    month,
    'distributor' as channel_group,
    'distributor' as channel,
    region,
    province,
    city_code,
    city_tier,
    'cn' as country,
    cast(null as {{ dbt.type_string() }}) as store_id,
    distributor_id,
    sku,
    series,
    product_line,
    0 as quantity_sold,
    0 as quantity_returned,
    0 as net_units,
    {{ money_zero() }} as gross_sales,
    {{ money_zero() }} as discounts,
    {{ money_zero() }} as returns,
    allocated_rebate as rebates,
    cast(-allocated_rebate as decimal(18, 2)) as net_sales,
    cast(null as decimal(18, 2)) as unit_cost,
    {{ money_zero() }} as cogs,
    'CNY' as currency,
    cast(1 as decimal(18, 10)) as fx_rate,
    cast(null as {{ dbt.type_string() }}) as order_id,
    distributor_id as customer_id,
    case
        when line_type = 'rebate' then 'distributor_sell_in'
        else 'int_distributor_rebates_computed'
    end as source_table,
    _source_file,
    _source_row,
    _loaded_at,
    cast(null as {{ dbt.type_string() }}) as reject_reason,
    rebate_id,
    rebate_amount
from allocated
{{ stored_in_date_order('business_date') }}
