-- One row per Lazada order item (quantity is always one). Amounts in the row's currency
-- (THB, MYR, or USD for Lazada Vietnam); timestamps are already local.
with

source as (

    select * from {{ source('overseas', 'lazada_orders') }}

),

renamed as (

    select
        lower(trim(country)) || '-' || trim({{ adapter.quote('orderItemId') }}) as lazada_item_id,
        lower(trim(country)) as country,
        trim({{ adapter.quote('orderItemId') }}) as order_item_id,
        trim({{ adapter.quote('orderNumber') }}) as order_id,
        {{ adapter.quote('createTime') }} as created_at_local,
        _business_date as business_date,  -- the local date of createTime, dated by ingestion
        upper(trim({{ adapter.quote('sellerSku') }})) as sku,
        {{ adapter.quote('itemName') }} as item_name,
        cast({{ adapter.quote('unitPrice') }} as decimal(18, 2)) as unit_price,
        cast({{ adapter.quote('paidPrice') }} as decimal(18, 2)) as paid_price,
        upper(trim(currency)) as currency,
        lower(trim(status)) as item_status,
        {{ adapter.quote('buyerId') }} as customer_id,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
-- the business date leads the key (a re-delivery carries the same date): a window filter
-- on it is pushed below the dedupe, so a one-day build does not dedupe the whole history
qualify {{ latest_delivery_rank('business_date, country, order_item_id') }} = 1
