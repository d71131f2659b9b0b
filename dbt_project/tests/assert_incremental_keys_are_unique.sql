-- The primary key of every incremental table is present and unique among the rows of the
-- build's business-date window (every row without a window). A window build runs this one
-- query instead of the per-column generic tests (unique, not_null, accepted values...), which
-- run in full builds: the window's new rows keep their keys, whatever the history holds.
-- Reads several models; shown in Dagster as a check of int_sales_lines_checked.
{{ config(meta={'dagster': {'ref': {'name': 'int_sales_lines_checked'}}}) }}
{%- set keys = [
    (ref('stg_online__order_lines'), 'order_line_id', 'order_date', 'day'),
    (ref('stg_online__refunds'), 'refund_id', 'refund_date', 'day'),
    (ref('stg_store__pos_lines'), 'pos_line_id', 'business_date', 'day'),
    (ref('stg_distributor__sell_in_lines'), 'sell_in_line_id', 'business_date', 'day'),
    (ref('int_online_sales_lines'), 'sales_line_id', 'business_date', 'day'),
    (ref('int_online_refund_lines'), 'sales_line_id', 'business_date', 'day'),
    (ref('int_store_sales_lines'), 'sales_line_id', 'business_date', 'day'),
    (ref('int_distributor_sales_lines'), 'sales_line_id', 'business_date', 'day'),
    (ref('int_overseas_sales_lines'), 'sales_line_id', 'business_date', 'day'),
    (ref('int_distributor_rebates_allocated'), 'sales_line_id', 'business_date', 'rest_of_year'),
    (ref('int_sales_days_aggregated'), 'sales_day_id', 'business_date', 'day'),
    (ref('int_channel_months_aggregated'), 'channel_month_id', 'month', 'month'),
    (ref('int_location_months_aggregated'), 'location_month_id', 'month', 'month'),
] %}
{%- for relation, key, date_column, grain in keys %}
select
    '{{ relation.identifier }}' as model_name,
    {{ key }} as key_value,
    count(*) as rows_with_key
from {{ relation }}
where {{ business_date_window(date_column, grain) }}
group by {{ key }}
having {{ key }} is null or count(*) > 1
{% if not loop.last %}union all{% endif %}
{%- endfor %}
