-- Nothing is dropped silently: every staged source line arrives either in
-- int_sales_lines_unioned or in int_sales_lines_rejected (the checked union is split
-- exactly in two, and each channel model keeps one row per staged row). Within the run's
-- business-date window when there is one (a one-day refresh counts one day, not the history).
-- Reads several models; shown in Dagster as a check of int_sales_lines_checked.
{{ config(meta={'dagster': {'ref': {'name': 'int_sales_lines_checked'}}}) }}
{%- set pairs = [
    ('stg_online__order_lines', 'order_date', 'int_online_sales_lines'),
    ('stg_online__refunds', 'refund_date', 'int_online_refund_lines'),
    ('stg_store__pos_lines', 'business_date', 'int_store_sales_lines'),
    ('stg_distributor__sell_in_lines', 'business_date', 'int_distributor_sales_lines'),
] %}
{%- set in_window = business_date_window('business_date') %}
with

counts as (

    {% for staged, staged_date, prepared in pairs %}
    select
        '{{ prepared }}' as model_name,
        (
            select count(*) from {{ ref(staged) }}
            where {{ business_date_window(staged_date) }}
        ) as staged_rows,
        (
            select count(*) from {{ ref(prepared) }}
            where {{ in_window }}
        ) as prepared_rows
    union all
    {% endfor %}
    select
        'int_overseas_sales_lines' as model_name,
        (
            select count(*) from {{ ref('stg_overseas__shopee_order_lines') }}
            where {{ in_window }}
        )
        + (
            select count(*) from {{ ref('stg_overseas__lazada_order_items') }}
            where {{ in_window }}
        ) as staged_rows,
        (
            select count(*) from {{ ref('int_overseas_sales_lines') }}
            where {{ in_window }}
        ) as prepared_rows
    union all
    select
        'int_sales_lines_checked' as model_name,
        (
            select count(*) from {{ ref('int_sales_lines_checked') }}
            where {{ in_window }}
        ) as staged_rows,
        (
            select count(*) from {{ ref('int_sales_lines_unioned') }}
            where {{ in_window }}
        )
        + (
            select count(*) from {{ ref('int_sales_lines_rejected') }}
            where {{ in_window }}
        ) as prepared_rows

)

select * from counts
where staged_rows <> prepared_rows
