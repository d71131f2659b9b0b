-- Distributor sell-in report lines as sales lines (one row per report line). Rules:
--   goods line (数量 > 0): gross_sales = 数量 x 标准单价, discounts = gross - 进货金额;
--   return line (数量 < 0): returns = -进货金额, units come back;
--   rebate line (单据号 starting FL, no SKU, 数量 0): rebates = -进货金额 (standard monthly
--   rebate; the tiered extra rebate is int_distributor_rebates_computed);
--   business date = 日期; geography = the distributor's city and region; cost at the line's date.
-- So net_sales = 进货金额 on every line. Unknown distributors / SKUs are rejected, not dropped.
with

sell_in as (

    select * from {{ ref('stg_distributor__sell_in_lines') }}
    where {{ incremental_window('business_date') }}

),

distributors as (

    select * from {{ ref('int_distributors_located') }}

),

products as (

    select * from {{ ref('stg_reference__products') }}

),

known_skus as (

    select distinct sku from products

),

classified as (

    select
        sell_in.*,
        case
            when upper(document_no) like 'FL%' then 'rebate'
            when quantity > 0 then 'sale'
            when quantity < 0 then 'return'
        end as line_type
    from sell_in

),

valued as (

    select
        classified.*,
        distributors.region,
        distributors.province_code,
        distributors.city_code,
        distributors.city_tier,
        products.series,
        products.product_line,
        products.unit_cost,
        case
            when distributors.distributor_id is null then 'unknown_distributor'
            when classified.line_type is null or classified.invoiced_amount is null
                then 'unclassifiable_line'
            when classified.line_type = 'sale' and classified.list_price is null
                then 'invalid_quantity_or_price'
            when classified.line_type = 'rebate' then null
            when known_skus.sku is null then 'unknown_sku'
            when products.sku is null then 'no_product_cost_on_date'
        end as reject_reason
    from classified
    left join distributors
        on classified.distributor_id = distributors.distributor_id
    left join known_skus
        on classified.sku = known_skus.sku
        and classified.line_type <> 'rebate'
    left join products
        on classified.sku = products.sku
        and classified.line_type <> 'rebate'
        and classified.business_date between products.valid_from and products.valid_until

),

measured as (

    select
        valued.*,
        case when line_type = 'sale' then quantity else 0 end as quantity_sold,
        case when line_type = 'return' then -quantity else 0 end as quantity_returned,
        case
            when line_type = 'sale' then {{ money('quantity * list_price') }}
            else {{ money_zero() }}
        end as gross_sales,
        case when line_type = 'return' then -invoiced_amount else {{ money_zero() }} end as returns,
        case when line_type = 'rebate' then -invoiced_amount else {{ money_zero() }} end as rebates
    from valued

)

select
    'distributor-' || sell_in_line_id as sales_line_id,
    coalesce(line_type, 'sale') as line_type,
    business_date,
    {{ month_start('business_date') }} as month,
    'distributor' as channel_group,
    'distributor' as channel,
    region,
    province_code as province,
    city_code,
    city_tier,
    'cn' as country,
    cast(null as {{ dbt.type_string() }}) as store_id,
    distributor_id,
    sku,
    series,
    product_line,
    quantity_sold,
    quantity_returned,
    quantity_sold - quantity_returned as net_units,
    gross_sales,
    case
        when line_type = 'sale' then cast(gross_sales - invoiced_amount as decimal(18, 2))
        else {{ money_zero() }}
    end as discounts,
    returns,
    rebates,
    cast(invoiced_amount as decimal(18, 2)) as net_sales,
    unit_cost,
    case
        when line_type = 'rebate' then {{ money_zero() }}
        else {{ money('(quantity_sold - quantity_returned) * unit_cost') }}
    end as cogs,
    'CNY' as currency,
    cast(1 as decimal(18, 10)) as fx_rate,
    case when line_type = 'sale' then distributor_id || '-' || document_no end as order_id,
    distributor_id as customer_id,
    'distributor_sell_in' as source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason,
    report_month,
    document_no,
    invoiced_amount
from measured
{{ stored_in_date_order('business_date') }}
