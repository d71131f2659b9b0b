-- Store POS receipt lines as sales lines (one row per receipt line). Rules:
--   sale line (数量 > 0): gross_sales = 数量 x 零售价, discounts = 折扣金额;
--   return line (数量 < 0): returns = -实收金额 (the refund), units come back;
--   units = Σ 数量; business date = 销售日期; cost = unit_cost valid on the line's own date.
-- Geography is the store's city. Unknown stores / SKUs are rejected, not dropped.
--
-- Built after int_online_sales_lines, never beside it. It reads nothing from it: the two
-- largest builds side by side share DuckDB's memory limit and both spill, one after the other
-- they don't (full build at 30M order lines, 2 threads, 2 GB: 97.6 s side by side, 75.5 s one
-- after the other; measured when both still sorted their rows by date). dbt's `depends_on`
-- comment orders them; meta.runs_after tells Dagster's translator that the dependency is an
-- order, not lineage (orchestration/dbt/translator.py).
-- depends_on: {{ ref('int_online_sales_lines') }}
with

pos_lines as (

    select * from {{ ref('stg_store__pos_lines') }}
    where {{ incremental_window('business_date') }}

),

stores as (

    select * from {{ ref('int_stores_located') }}

),

products as (

    select * from {{ ref('stg_reference__products') }}

),

known_skus as (

    select distinct sku from products

),

valued as (

    select
        pos_lines.*,
        case
            when pos_lines.quantity > 0 then 'sale'
            when pos_lines.quantity < 0 then 'return'
        end as line_type,
        stores.region,
        stores.province_code,
        stores.city_code,
        stores.city_tier,
        products.series,
        products.product_line,
        products.unit_cost,
        case
            when stores.store_id is null then 'unknown_store'
            when pos_lines.quantity is null or pos_lines.quantity = 0
                then 'invalid_quantity_or_price'
            when pos_lines.quantity > 0 and pos_lines.list_price is null
                then 'invalid_quantity_or_price'
            when pos_lines.quantity < 0 and pos_lines.paid_amount is null
                then 'invalid_quantity_or_price'
            when known_skus.sku is null then 'unknown_sku'
            when products.sku is null then 'no_product_cost_on_date'
        end as reject_reason
    from pos_lines
    left join stores
        on pos_lines.store_id = stores.store_id
    left join known_skus
        on pos_lines.sku = known_skus.sku
    left join products
        on pos_lines.sku = products.sku
        and pos_lines.business_date between products.valid_from and products.valid_until

),

measured as (

    select
        valued.*,
        case when line_type = 'sale' then quantity else 0 end as quantity_sold,
        case when line_type = 'return' then -quantity else 0 end as quantity_returned,
        case
            when line_type = 'sale' then cast(quantity * list_price as decimal(18, 2))
            else {{ money_zero() }}
        end as gross_sales,
        case when line_type = 'sale' then discount_amount else {{ money_zero() }} end as discounts,
        case when line_type = 'return' then -paid_amount else {{ money_zero() }} end as returns
    from valued

),

-- Not sorted by date, like int_online_sales_lines: the rows keep much of the order of the
-- raw POS lines (a day's file after the other). At 30M order lines (11.6M POS lines, 2 threads,
-- 2 GB), alone: 12.9-13.4 s without the sort, 17.8-18.4 s with it; a row group spans 63 days
-- (median; a few up to the whole history) instead of 15, and a month's lines lie in 6-7 row
-- groups instead of 4. The columns read from the feed and the lookups are selected first; the
-- constants and the columns derived from others (ids joined with '-', month, net amounts) are
-- computed on them below.
in_feed_order as (

    select
        pos_line_id,
        line_type,
        business_date,
        region,
        province_code,
        city_code,
        city_tier,
        store_id,
        sku,
        series,
        product_line,
        quantity_sold,
        quantity_returned,
        gross_sales,
        discounts,
        returns,
        unit_cost,
        receipt_no,
        original_receipt_no,
        reject_reason,
        _source_file,
        _source_row,
        _loaded_at
    from measured

)

select
    'store-' || pos_line_id as sales_line_id,
    coalesce(line_type, 'sale') as line_type,
    business_date,
    {{ month_start('business_date') }} as month,
    'store' as channel_group,
    'store' as channel,
    region,
    province_code as province,
    city_code,
    city_tier,
    'cn' as country,
    store_id,
    cast(null as {{ dbt.type_string() }}) as distributor_id,
    sku,
    series,
    product_line,
    quantity_sold,
    quantity_returned,
    quantity_sold - quantity_returned as net_units,
    gross_sales,
    discounts,
    returns,
    {{ money_zero() }} as rebates,
    {{ net_sales('gross_sales', 'discounts', 'returns', 'null') }} as net_sales,
    unit_cost,
    {{ money('(quantity_sold - quantity_returned) * unit_cost') }} as cogs,
    'CNY' as currency,
    cast(1 as decimal(18, 10)) as fx_rate,
    store_id || '-' || receipt_no as order_id,
    cast(null as {{ dbt.type_string() }}) as customer_id,
    'store_pos_lines' as source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason,
    receipt_no,
    original_receipt_no
from in_feed_order
