-- Every sales line satisfies net_sales = gross_sales - discounts - returns - rebates.
select
    sales_line_id,
    gross_sales,
    discounts,
    returns,
    rebates,
    net_sales
from {{ ref('int_sales_lines_unioned') }}
where net_sales <> gross_sales - discounts - returns - rebates
