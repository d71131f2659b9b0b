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

-- Incremental (dbt_project.yml): a build inserts the rows of its business-date window; the
-- business date leads the dedupe key (a re-delivery carries the same date), so deduping the
-- window alone is the same as deduping everything. The window's filter on the raw date
-- lets the scan skip the raw row groups outside it (raw rows are appended file by file).
-- latest_deliveries reads in_window twice: the CTEs are inlined() (not stored whole first).
in_window as {{ inlined() }} (

    select * from renamed
    where {{ incremental_window('order_date') }}

),

latest as (

    {{ latest_deliveries('in_window', 'order_date, order_id, line_no') }}

)

select * from latest
{{ stored_in_date_order('order_date') }}
