-- Candidate sales lines that do not count, with the reason. Two kinds:
--   excluded_by_rule: cancelled orders (not sales, by the rules);
--   data_issue: everything else (unknown SKU / store / distributor / order reference, no cost
--   or FX rate on the date, invalid quantities, unknown status or channel). These need a fix
--   upstream; the data-quality checks alert on them.
select
    sales_line_id,
    reject_reason,
    case
        when reject_reason = 'cancelled_order' then 'excluded_by_rule'
        else 'data_issue'
    end as reject_kind,
    line_type,
    business_date,
    month,
    channel_group,
    channel,
    region,
    store_id,
    distributor_id,
    sku,
    quantity_sold,
    quantity_returned,
    gross_sales,
    discounts,
    returns,
    rebates,
    net_sales,
    currency,
    fx_rate,
    order_id,
    source_table,
    _source_file,
    _source_row,
    _loaded_at
from {{ ref('int_sales_lines_checked') }}
where reject_reason is not null
