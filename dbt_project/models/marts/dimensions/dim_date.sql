-- One row per calendar day from var dim_date_start to var dim_date_end (inclusive).
with

spine as (

    {{ dbt.date_spine(
        'day',
        "cast('" ~ var('dim_date_start') ~ "' as date)",
        dbt.dateadd('day', 1, "cast('" ~ var('dim_date_end') ~ "' as date)")
    ) }}

),

days as (

    select cast(date_day as date) as date_day from spine

)

select
    date_day,
    cast(extract(year from date_day) as {{ dbt.type_int() }}) as year,
    cast(extract(quarter from date_day) as {{ dbt.type_int() }}) as quarter_of_year,
    cast(extract(month from date_day) as {{ dbt.type_int() }}) as month_of_year,
    cast(extract(day from date_day) as {{ dbt.type_int() }}) as day_of_month,
    {{ iso_day_of_week('date_day') }} as iso_day_of_week,
    {{ iso_day_of_week('date_day') }} >= 6 as is_weekend,
    {{ month_start('date_day') }} as month_start,
    {{ quarter_start('date_day') }} as quarter_start,
    {{ year_start('date_day') }} as year_start,
    cast(extract(year from date_day) as {{ dbt.type_string() }}) || '-Q'
    || cast(extract(quarter from date_day) as {{ dbt.type_string() }})
        as year_quarter_label,
    cast(extract(year from date_day) as {{ dbt.type_string() }}) || '年'
    || cast(extract(month from date_day) as {{ dbt.type_string() }}) || '月'
        as month_label_zh
from days
