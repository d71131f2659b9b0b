-- One row per POS receipt line, Chinese headers renamed to English. A receipt line delivered
-- twice (the same day's file re-delivered under another name) keeps the latest delivery.
{%- set q = adapter.quote %}
with

source as {{ inlined() }} (

    select * from {{ source('store', 'store_pos_lines') }}

),

renamed as {{ inlined() }} (

    select
        {{ q('门店编号') }}
        || '-'
        || {{ q('小票号') }}
        || '-'
        || cast({{ q('行号') }} as {{ dbt.type_string() }})
            as pos_line_id,
        _business_date as business_date,  -- 销售日期, dated by ingestion
        trim({{ q('门店编号') }}) as store_id,
        {{ q('门店名称') }} as store_name,
        trim({{ q('小票号') }}) as receipt_no,
        cast({{ q('行号') }} as {{ dbt.type_int() }}) as line_no,
        upper(trim({{ q('商品编码') }})) as sku,
        {{ q('商品名称') }} as product_name,
        cast({{ q('数量') }} as {{ dbt.type_int() }}) as quantity,
        cast({{ q('零售价') }} as decimal(18, 2)) as list_price,
        cast(coalesce({{ q('折扣金额') }}, 0) as decimal(18, 2)) as discount_amount,
        cast({{ q('实收金额') }} as decimal(18, 2)) as paid_amount,
        nullif(trim({{ q('原小票号') }}), '') as original_receipt_no,
        {{ q('收银员') }} as cashier,
        {{ q('交易时间') }} as transacted_at,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

),

-- A view on DuckDB (dbt_project.yml): the raw table is the feed's only stored copy, and the
-- readers' filter on business_date (raw _business_date) prunes its scan. The superseded
-- deliveries are a small table of their own (stg_store__superseded_pos_lines), matched by
-- the raw row's file and row (a CSV line). On Spark an incremental table of the window
-- (incremental_window is true for a view).
in_window as {{ inlined() }} (

    select * from renamed
    where {{ incremental_window('business_date') }}

),

latest as (

    {{ without_superseded('in_window', ref('stg_store__superseded_pos_lines'),
                          ['_source_file', '_source_row']) }}

)

select * from latest
