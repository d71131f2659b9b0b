-- One row per Shopee order line (country, order, SKU), local currency of the country.
-- Timestamps are already local, so the business date is the creation date as delivered.
{%- set q = adapter.quote %}
with

source as (

    select * from {{ source('overseas', 'shopee_orders') }}

),

renamed as (

    select
        lower(trim(country))
        || '-'
        || {{ q('Order ID') }}
        || '-'
        || upper(trim({{ q('SKU Reference No.') }}))
            as shopee_line_id,
        lower(trim(country)) as country,
        trim({{ q('Order ID') }}) as order_id,
        lower(trim({{ q('Order Status') }})) as order_status,
        {{ q('Order Creation Date') }} as created_at_local,
        _business_date as business_date,  -- the local creation date, dated by ingestion
        {{ q('Username (Buyer)') }} as customer_id,
        upper(trim({{ q('SKU Reference No.') }})) as sku,
        {{ q('Product Name') }} as product_name,
        cast({{ q('Original Price') }} as decimal(18, 2)) as original_price,
        cast({{ q('Deal Price') }} as decimal(18, 2)) as deal_price,
        cast({{ q('Quantity') }} as {{ dbt.type_int() }}) as quantity,
        cast(coalesce({{ q('Seller Voucher') }}, 0) as decimal(18, 2)) as seller_voucher,
        cast(coalesce({{ q('Shopee Voucher') }}, 0) as decimal(18, 2)) as shopee_voucher,
        cast(coalesce({{ q('Returned Quantity') }}, 0) as {{ dbt.type_int() }})
            as returned_quantity,
        cast(coalesce({{ q('Refund Amount') }}, 0) as decimal(18, 2)) as refund_amount,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
-- the business date leads the key (a re-delivery carries the same date): a window filter
-- on it is pushed below the dedupe, so a one-day build does not dedupe the whole history
qualify {{ latest_delivery_rank('business_date, country, order_id, sku') }} = 1
