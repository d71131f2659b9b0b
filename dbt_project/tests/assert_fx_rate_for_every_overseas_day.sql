{{ config(severity='warn') }}
-- fx_rates must have every calendar day of every currency an overseas line needs; a missing
-- rate sends the line to int_sales_lines_rejected (missing_fx_rate). Warns with the gaps.
select
    business_date,
    currency,
    count(*) as lines_without_rate
from {{ ref('int_sales_lines_rejected') }}
where reject_reason = 'missing_fx_rate'
group by business_date, currency
