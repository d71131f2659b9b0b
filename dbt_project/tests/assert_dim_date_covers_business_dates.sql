-- Every business date of a sales line is a day of dim_date (the calendar BI tools join on).
-- Lives with the marts (not on the intermediate model) so that it runs once dim_date is built.
-- In a build over a business-date window, the dates of the months it rebuilt (rebuilt_months).
-- Reads several models; shown in Dagster as a check of dim_date.
{{ config(meta={'dagster': {'ref': {'name': 'dim_date'}}}) }}
with

lines as (

    select business_date from {{ ref('int_sales_lines_unioned') }}
    where {{ rebuilt_months('business_date') }}

)

select distinct lines.business_date
from lines
left join {{ ref('dim_date') }} as calendar
    on lines.business_date = calendar.date_day
where calendar.date_day is null
