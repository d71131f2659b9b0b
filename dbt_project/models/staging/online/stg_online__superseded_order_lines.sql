-- The raw order lines that a later delivery of the same order line supersedes (the same
-- order_date, order_id and line_no loaded again, or in a later file or row of the same load):
-- what stg_online__order_lines leaves out. A few rows (5,269 of 16.9M raw lines at 30M),
-- incremental on the business-date window like the sales lines; the date leads the key (a
-- re-delivery carries the same date), so the window's rows are ranked against each other only.
with

deliveries as {{ inlined() }} (

    select
        _business_date as order_date,
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_no as {{ dbt.type_int() }}) as line_no,
        _source_file,
        _source_row,
        _loaded_at
    from {{ source('online', 'online_order_lines') }}
    where {{ incremental_window('_business_date') }}

)

{{ superseded_deliveries('deliveries', 'order_date, order_id, line_no', 'order_date',
                         ['_source_file', '_source_row', 'line_no']) }}
