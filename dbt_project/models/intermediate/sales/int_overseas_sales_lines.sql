-- Shopee and Lazada lines as sales lines, converted to CNY. Rules:
--   Shopee (one row per order line, currency of the country): gross = Original Price x
--   Quantity; discounts = (Original - Deal) x Quantity + Seller Voucher + Shopee Voucher;
--   returns = Refund Amount; units = Quantity - Returned Quantity.
--   Lazada (one row per item, currency on the row): gross = unitPrice; discounts = unitPrice -
--   paidPrice; returns = paidPrice of a returned item; units = 1, or 0 when returned.
--   Each component is converted on its own at the fx_rates rate of the local business date and
--   rounded to cents; net_sales is computed from the converted components. Returns are booked
--   on the order's row (its creation date), as the exports report them.
-- Cancelled orders and rows without an FX rate, SKU or cost are rejected, not dropped.
with

shopee as (

    select * from {{ ref('stg_overseas__shopee_order_lines') }}
    where {{ incremental_window('business_date') }}

),

lazada as (

    select * from {{ ref('stg_overseas__lazada_order_items') }}
    where {{ incremental_window('business_date') }}

),

countries as (

    select * from {{ ref('ref_countries') }}

),

fx_rates as (

    select * from {{ ref('stg_reference__fx_rates') }}

),

products as (

    select * from {{ ref('stg_reference__products') }}

),

known_skus as (

    select distinct sku from products

),

shopee_local as (

    select
        'shopee-' || shopee.shopee_line_id as sales_line_id,
        'shopee' as channel,
        shopee.country,
        shopee.business_date,
        shopee.order_id,
        shopee.customer_id,
        shopee.sku,
        countries.currency,
        shopee.order_status as status,
        case
            when shopee.order_status = 'cancelled' then 'cancelled_order'
            when shopee.order_status not in ('completed', 'return/refund')
                then 'unknown_order_status'
            when shopee.quantity is null or shopee.quantity <= 0
                or shopee.returned_quantity > shopee.quantity then 'invalid_quantity_or_price'
        end as status_reject_reason,
        shopee.quantity as quantity_sold,
        shopee.returned_quantity as quantity_returned,
        cast(shopee.original_price * shopee.quantity as decimal(18, 2)) as gross_local,
        cast(
            (shopee.original_price - shopee.deal_price) * shopee.quantity
            + shopee.seller_voucher + shopee.shopee_voucher
            as decimal(18, 2)
        ) as discounts_local,
        shopee.refund_amount as returns_local,
        'shopee_orders' as source_table,
        shopee._source_file,
        shopee._source_row,
        shopee._loaded_at
    from shopee
    left join countries
        on shopee.country = countries.country

),

lazada_local as (

    select
        'lazada-' || lazada_item_id as sales_line_id,
        'lazada' as channel,
        country,
        business_date,
        order_id,
        customer_id,
        sku,
        currency,
        item_status as status,
        case
            when item_status = 'canceled' then 'cancelled_order'
            when item_status not in ('delivered', 'returned') then 'unknown_order_status'
            when unit_price is null or paid_price is null then 'invalid_quantity_or_price'
        end as status_reject_reason,
        1 as quantity_sold,
        case when item_status = 'returned' then 1 else 0 end as quantity_returned,
        unit_price as gross_local,
        cast(unit_price - paid_price as decimal(18, 2)) as discounts_local,
        case when item_status = 'returned' then paid_price else {{ money_zero() }} end
            as returns_local,
        'lazada_orders' as source_table,
        _source_file,
        _source_row,
        _loaded_at
    from lazada

),

local_lines as (

    select * from shopee_local
    union all
    select * from lazada_local

),

converted as (

    select
        local_lines.*,
        fx_rates.cny_per_unit as fx_rate,
        {{ money('local_lines.gross_local * fx_rates.cny_per_unit') }} as gross_sales,
        {{ money('local_lines.discounts_local * fx_rates.cny_per_unit') }} as discounts,
        {{ money('local_lines.returns_local * fx_rates.cny_per_unit') }} as returns,
        products.series,
        products.product_line,
        products.unit_cost,
        coalesce(
            local_lines.status_reject_reason,
            case
                when local_lines.currency is null then 'unknown_country'
                when fx_rates.cny_per_unit is null then 'missing_fx_rate'
                when known_skus.sku is null then 'unknown_sku'
                when products.sku is null then 'no_product_cost_on_date'
            end
        ) as reject_reason
    from local_lines
    left join fx_rates
        on local_lines.currency = fx_rates.currency
        and local_lines.business_date = fx_rates.rate_date
    left join known_skus
        on local_lines.sku = known_skus.sku
    left join products
        on local_lines.sku = products.sku
        and local_lines.business_date between products.valid_from and products.valid_until

)

select
    sales_line_id,
    'sale' as line_type,
    business_date,
    {{ month_start('business_date') }} as month,
    'overseas' as channel_group,
    channel,
    country as region,
    cast(null as {{ dbt.type_string() }}) as province,
    cast(null as {{ dbt.type_string() }}) as city_code,
    cast(null as {{ dbt.type_string() }}) as city_tier,
    country,
    cast(null as {{ dbt.type_string() }}) as store_id,
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
    currency,
    cast(fx_rate as decimal(18, 10)) as fx_rate,
    order_id,
    customer_id,
    source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason,
    status,
    gross_local,
    discounts_local,
    returns_local
from converted
{{ stored_in_date_order('business_date') }}
