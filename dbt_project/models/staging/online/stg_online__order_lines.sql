-- One row per online order line. Re-delivered orders (same order_id and line_no in another
-- file) keep the latest delivery. Cancelled orders are kept here; intermediate drops them.
with

source as {{ inlined() }} (

    select * from {{ source('online', 'online_order_lines') }}

),

renamed as {{ inlined() }} (

    select
        cast(order_id as {{ dbt.type_string() }}) || '-' || cast(line_no as {{ dbt.type_string() }})
            as order_line_id,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_no as {{ dbt.type_int() }}) as line_no,
        lower(trim(platform)) as channel,
        shop_id,
        lower(trim(status)) as order_status,
        created_at,
        paid_at,
        -- the local date in Asia/Shanghai, dated once by ingestion (raw _business_date)
        _business_date as order_date,
        buyer_id as customer_id,
        trim(receiver_province) as receiver_province,
        trim(receiver_city) as receiver_city,
        cast(coalesce(coupon_amount, 0) as decimal(18, 2)) as coupon_amount,
        cast(coalesce(platform_subsidy, 0) as decimal(18, 2)) as platform_subsidy,
        upper(trim(sku)) as sku,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(coalesce(promo_discount, 0) as decimal(18, 2)) as promo_discount,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

),

-- A view on DuckDB (dbt_project.yml): the raw table is the feed's only stored copy, and the
-- readers' filter on order_date (raw _business_date) prunes its scan. The superseded
-- deliveries are a small table of their own (stg_online__superseded_order_lines), matched by
-- the raw row's file, row and line (an order's lines share its JSON line). On Spark an
-- incremental table of the window (incremental_window is true for a view).
in_window as {{ inlined() }} (

    select * from renamed
    where {{ incremental_window('order_date') }}

),

latest as (

    {{ without_superseded('in_window', ref('stg_online__superseded_order_lines'),
                          ['_source_file', '_source_row', 'line_no']) }}

)

select * from latest
