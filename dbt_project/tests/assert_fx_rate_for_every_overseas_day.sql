{{ config(severity='warn') }}
-- fx_rates must have every calendar day of every currency an overseas line needs; a missing
-- rate sends the line to int_sales_lines_rejected (missing_fx_rate). Warns with the gaps; in a
-- build over a business-date window, those of the lines it wrote (macro rebuilt_sales_lines).
select
    business_date,
    currency,
    count(*) as lines_without_rate
from {{ ref('int_sales_lines_rejected') }}
where reject_reason = 'missing_fx_rate'
    and {{ rebuilt_sales_lines() }}
group by business_date, currency
