-- One row per refund (refund_id). The business date is the Asia/Shanghai date the refund was
-- processed; re-delivered refunds keep the latest delivery.
with

source as {{ inlined() }} (

    select * from {{ source('online', 'online_refunds') }}

),

renamed as {{ inlined() }} (

    select
        cast(refund_id as {{ dbt.type_string() }}) as refund_id,
        lower(trim(platform)) as channel,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_no as {{ dbt.type_int() }}) as line_no,
        cast(order_id as {{ dbt.type_string() }}) || '-' || cast(line_no as {{ dbt.type_string() }})
            as order_line_id,
        upper(trim(sku)) as sku,
        cast(coalesce(refund_quantity, 0) as {{ dbt.type_int() }}) as refund_quantity,
        cast(refund_amount as decimal(18, 2)) as refund_amount,
        lower(trim(refund_type)) as refund_type,
        refunded_at,
        -- the local date in Asia/Shanghai, dated once by ingestion (raw _business_date)
        _business_date as refund_date,
        reason as refund_reason,
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
    where {{ incremental_window('refund_date') }}

),

latest as (

    {{ latest_deliveries('in_window', 'refund_date, refund_id') }}

)

select * from latest
{{ stored_in_date_order('refund_date') }}
