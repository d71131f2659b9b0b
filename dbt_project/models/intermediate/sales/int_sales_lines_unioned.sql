-- The unified sales-line fact across the four channel groups, in CNY: one row per source
-- line or event (online order line, online refund, store receipt line incl. returns,
-- distributor goods / return / rebate line, tiered extra rebate per distributor-month,
-- Shopee order line, Lazada item). Only lines that passed every check
-- (rejections: int_sales_lines_rejected). Every mart reads its sales from here.
select
    sales_line_id,
    line_type,
    business_date,
    month,
    channel_group,
    channel,
    region,
    province,
    city_code,
    city_tier,
    country,
    store_id,
    distributor_id,
    sku,
    series,
    product_line,
    quantity_sold,
    quantity_returned,
    net_units,
    gross_sales,
    discounts,
    returns,
    rebates,
    net_sales,
    unit_cost,
    cogs,
    currency,
    fx_rate,
    order_id,
    customer_id,
    source_table,
    _source_file,
    _source_row,
    _loaded_at
from {{ ref('int_sales_lines_checked') }}
where reject_reason is null
  and ({{ business_date_window('business_date') }} or line_type in ('rebate', 'extra_rebate'))
