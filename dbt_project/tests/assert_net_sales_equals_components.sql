-- Every sales line satisfies net_sales = gross_sales - discounts - returns - rebates.
-- In a build over a business-date window, the lines that build wrote (the window's, and the
-- rebates rebuilt with it: macro rebuilt_sales_lines), not the whole history again.
select
    sales_line_id,
    gross_sales,
    discounts,
    returns,
    rebates,
    net_sales
from {{ ref('int_sales_lines_unioned') }}
where
    {{ rebuilt_sales_lines() }}
    and net_sales <> gross_sales - discounts - returns - rebates
