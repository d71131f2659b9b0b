{{ config(severity='warn') }}
-- Warns (with counts per reason and table) when sales lines were rejected for a data issue:
-- unknown SKU / store / distributor / order reference, missing cost or FX rate, ...
-- Cancelled orders (excluded_by_rule) are expected and do not warn. In a build over a
-- business-date window, the lines that build wrote (macro rebuilt_sales_lines).
select
    source_table,
    reject_reason,
    count(*) as rejected_lines,
    sum(net_sales) as rejected_net_sales
from {{ ref('int_sales_lines_rejected') }}
where reject_kind = 'data_issue'
    and {{ rebuilt_sales_lines() }}
group by source_table, reject_reason
