-- The raw POS lines that a later delivery of the same receipt line supersedes (the same
-- business date, store, receipt and line loaded again, or in a later file or row of the same
-- load): what stg_store__pos_lines leaves out. A small table (none in the generated data:
-- re-deliveries there are whole files under a new name), incremental on the business-date
-- window; the date leads the key, so the window's rows are ranked against each other only.
{%- set q = adapter.quote %}
with

deliveries as {{ inlined() }} (

    select
        _business_date as business_date,
        trim({{ q('门店编号') }}) as store_id,
        trim({{ q('小票号') }}) as receipt_no,
        cast({{ q('行号') }} as {{ dbt.type_int() }}) as line_no,
        _source_file,
        _source_row,
        _loaded_at
    from {{ source('store', 'store_pos_lines') }}
    where {{ incremental_window('_business_date') }}

)

{{ superseded_deliveries('deliveries', 'business_date, store_id, receipt_no, line_no',
                         'business_date', ['_source_file', '_source_row']) }}
