-- One row per line of a distributor's monthly sell-in report. The sheet has no line key, so
-- deduplication is per report: for each distributor and report month only the latest
-- delivered workbook is kept (a re-delivered or corrected report replaces the whole month).
-- Incremental (dbt_project.yml): a build inserts the lines of its business-date window, each
-- from the latest delivery of its report. Every delivery of a report with a line in the
-- window competes: the latest may no longer hold a line of the window (the window then loses
-- that report's lines, as the whole-month replacement says).
{%- set q = adapter.quote %}
with

-- source is read three times below: inlined() (DuckDB would store the whole raw table first,
-- and the window's filter could no longer prune the scans of it)
source as {{ inlined() }} (

    select * from {{ source('distributor', 'distributor_sell_in') }}

),

reports_in_window as (

    select distinct
        distributor_id,
        report_month
    from source
    where {{ incremental_window('_business_date') }}

),

report_deliveries as (

    select
        deliveries.distributor_id,
        deliveries.report_month,
        deliveries._source_file,
        max(deliveries._loaded_at) as loaded_at
    from source as deliveries
    inner join reports_in_window
        on deliveries.distributor_id = reports_in_window.distributor_id
        and deliveries.report_month = reports_in_window.report_month
    group by deliveries.distributor_id, deliveries.report_month, deliveries._source_file

),

-- ranked in a step of its own: Spark does not resolve an aggregate inside QUALIFY
latest_report as (

    select
        distributor_id,
        report_month,
        _source_file
    from report_deliveries
    qualify
        row_number() over (
            partition by distributor_id, report_month
            order by loaded_at desc, _source_file desc
        ) = 1

),

renamed as (

    select
        source.distributor_id || '-' || cast(source.report_month as {{ dbt.type_string() }})
        || '-' || cast(source._source_row as {{ dbt.type_string() }})
            as sell_in_line_id,
        trim(source.distributor_id) as distributor_id,
        cast(source.report_month as date) as report_month,
        source._business_date as business_date,  -- the line's 日期, dated by ingestion
        trim(source.{{ q('单据号') }}) as document_no,
        nullif(upper(trim(source.{{ q('商品编码') }})), '') as sku,
        source.{{ q('商品名称') }} as product_name,
        cast(coalesce(source.{{ q('数量') }}, 0) as {{ dbt.type_int() }}) as quantity,
        cast(source.{{ q('标准单价') }} as decimal(18, 2)) as list_price,
        cast(coalesce(source.{{ q('折扣率') }}, 0) as decimal(6, 4)) as discount_rate,
        cast(source.{{ q('进货金额') }} as decimal(18, 2)) as invoiced_amount,
        nullif(trim(source.{{ q('备注') }}), '') as remark,
        source._source_file,
        source._source_row,
        source._loaded_at,
        source._load_batch

    from source
    inner join latest_report
        on source.distributor_id = latest_report.distributor_id
        and source.report_month = latest_report.report_month
        and source._source_file = latest_report._source_file

)

select * from renamed
where {{ incremental_window('business_date') }}
{{ stored_in_date_order('business_date') }}
