-- Nothing is dropped silently: every staged source line arrives either in
-- int_sales_lines_unioned or in int_sales_lines_rejected (the checked union is split
-- exactly in two, and each channel model keeps one row per staged row).
{%- set pairs = [
    ('stg_online__order_lines', 'int_online_sales_lines'),
    ('stg_online__refunds', 'int_online_refund_lines'),
    ('stg_store__pos_lines', 'int_store_sales_lines'),
    ('stg_distributor__sell_in_lines', 'int_distributor_sales_lines'),
] %}
with

counts as (

    {% for staged, prepared in pairs %}
    select
        '{{ prepared }}' as model_name,
        (select count(*) from {{ ref(staged) }}) as staged_rows,
        (select count(*) from {{ ref(prepared) }}) as prepared_rows
    union all
    {% endfor %}
    select
        'int_overseas_sales_lines' as model_name,
        (select count(*) from {{ ref('stg_overseas__shopee_order_lines') }})
            + (select count(*) from {{ ref('stg_overseas__lazada_order_items') }}) as staged_rows,
        (select count(*) from {{ ref('int_overseas_sales_lines') }}) as prepared_rows
    union all
    select
        'int_sales_lines_checked' as model_name,
        (select count(*) from {{ ref('int_sales_lines_checked') }}) as staged_rows,
        (select count(*) from {{ ref('int_sales_lines_unioned') }})
            + (select count(*) from {{ ref('int_sales_lines_rejected') }}) as prepared_rows

)

select * from counts where staged_rows <> prepared_rows
