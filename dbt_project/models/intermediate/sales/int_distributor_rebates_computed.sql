-- The tiered extra distributor rebate, one row per distributor x month with invoiced goods or
-- return lines (data/raw/README.md):
--   YTD(M) = invoiced purchases (Σ 进货金额 of goods and return lines) from January to month M
--   of the calendar year; accrued(M) = 5% x YTD(M) if YTD(M) > 5,000,000 else 0 (cents);
--   extra rebate booked in M = accrued(M) - accrued(M-1) (0 before January).
-- A distributor that passes the threshold earns 5% on the whole year, caught up in the month it
-- crosses and accrued monthly after (negative if returns take it back under the threshold).
-- Months without goods or return lines leave YTD unchanged, so they book nothing and are not
-- listed. The rebate is booked on the last business date of the distributor's lines that month.
with

lines as (

    select * from {{ ref('int_distributor_sales_lines') }}
    where reject_reason is null
        and line_type in ('sale', 'return')

),

monthly as (

    select
        distributor_id,
        month,
        {{ year_start('month') }} as year_start,
        max(business_date) as last_business_date,
        cast(sum(net_sales) as decimal(18, 2)) as monthly_purchases
    from lines
    group by distributor_id, month, {{ year_start('month') }}

),

year_to_date as (

    select
        monthly.*,
        cast(
            sum(monthly_purchases) over (
                partition by distributor_id, year_start
                order by month
                rows between unbounded preceding and current row
            ) as decimal(18, 2)
        ) as ytd_purchases
    from monthly

),

accrued as (

    select
        year_to_date.*,
        case
            when ytd_purchases > {{ var('distributor_extra_rebate_threshold') }}
                then {{ money('ytd_purchases * ' ~ var('distributor_extra_rebate_rate')) }}
            else {{ money_zero() }}
        end as accrued_extra_rebate
    from year_to_date

)

select
    distributor_id || '-' || cast(month as {{ dbt.type_string() }}) as distributor_month_id,
    distributor_id,
    month,
    year_start,
    last_business_date,
    monthly_purchases,
    ytd_purchases,
    accrued_extra_rebate,
    cast(
        accrued_extra_rebate
        - coalesce(
            lag(accrued_extra_rebate) over (partition by distributor_id, year_start order by month),
            0
        )
        as decimal(18, 2)
    ) as extra_rebate
from accrued
