-- Online refunds as sales lines (one row per refund), booked on the refund's Asia/Shanghai
-- date (possibly another month or year than the order). returns = refund_amount; units come
-- back as quantity_returned = refund_quantity (0 for a partial refund without units), valued
-- at the unit cost valid on the ORDER's date. Channel, geography and customer come from the
-- order. A refund whose order line is unknown or cancelled is rejected, not dropped.
with

refunds as (

    select * from {{ ref('stg_online__refunds') }}
    where {{ incremental_window('refund_date') }}

),

-- the refunded order lines, of any age: on an incremental build only those rows are read
-- from the whole history of order lines, looked up among the recent orders first (macro
-- rows_referenced_by, var refund_lookback_days)
order_lines as (

    {{ rows_referenced_by(ref('stg_online__order_lines'), 'refunds', ['order_id', 'line_no'],
                          'order_date', var('refund_lookback_days')) }}

),

products as (

    select * from {{ ref('stg_reference__products') }}

),

known_skus as (

    select distinct sku from products

),

city_lookup as (

    select * from {{ ref('int_city_lookup') }}

),

joined as (

    select
        refunds.*,
        order_lines.order_line_id as matched_order_line_id,
        order_lines.order_status,
        order_lines.order_date,
        order_lines.customer_id,
        order_lines.receiver_province,
        order_lines.receiver_city,
        order_lines.quantity as ordered_quantity,
        coalesce(order_lines.sku, refunds.sku) as sold_sku,
        coalesce(order_lines.channel, refunds.channel) as sold_channel
    from refunds
    left join order_lines
        on refunds.order_id = order_lines.order_id
        and refunds.line_no = order_lines.line_no

),

valued as (

    select
        joined.*,
        products.series,
        products.product_line,
        products.unit_cost,
        city_lookup.region,
        city_lookup.province_code,
        city_lookup.city_code,
        city_lookup.city_tier,
        case
            when joined.matched_order_line_id is null then 'unknown_order'
            when joined.order_status = 'cancelled' then 'refund_of_cancelled_order'
            when joined.refund_amount is null or joined.refund_amount < 0
                or joined.refund_quantity < 0 then 'invalid_refund_amount'
            when joined.refund_quantity > joined.ordered_quantity
                then 'refund_exceeds_order_quantity'
            when known_skus.sku is null then 'unknown_sku'
            when products.sku is null then 'no_product_cost_on_date'
        end as reject_reason
    from joined
    left join known_skus
        on joined.sold_sku = known_skus.sku
    left join products
        on joined.sold_sku = products.sku
        and joined.order_date between products.valid_from and products.valid_until
    left join city_lookup
        on city_lookup.province_key = lower(joined.receiver_province)
        and city_lookup.city_key = lower(joined.receiver_city)

)

select
    'online-refund-' || refund_id as sales_line_id,
    'refund' as line_type,
    refund_date as business_date,
    {{ month_start('refund_date') }} as month,
    'online' as channel_group,
    sold_channel as channel,
    region,
    province_code as province,
    city_code,
    city_tier,
    'cn' as country,
    cast(null as {{ dbt.type_string() }}) as store_id,
    cast(null as {{ dbt.type_string() }}) as distributor_id,
    sold_sku as sku,
    series,
    product_line,
    0 as quantity_sold,
    refund_quantity as quantity_returned,
    -refund_quantity as net_units,
    {{ money_zero() }} as gross_sales,
    {{ money_zero() }} as discounts,
    refund_amount as returns,
    {{ money_zero() }} as rebates,
    {{ net_sales('null', 'null', 'refund_amount', 'null') }} as net_sales,
    unit_cost,
    {{ money('-refund_quantity * unit_cost') }} as cogs,
    'CNY' as currency,
    cast(1 as decimal(18, 10)) as fx_rate,
    order_id,
    customer_id,
    'online_refunds' as source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason,
    refund_type,
    order_date
from valued
{{ stored_in_date_order('business_date') }}
