-- One row per calendar year x distributor with sales lines that year: gross and net sales,
-- rank by gross sales (ties by distributor_id), and the year's top-10 concentration
-- (top10_distributor_share = the ten largest distributors' gross sales over all distributor
-- gross sales, as the review quotes it; the same value on every row of the year).
with

lines as (

    select * from {{ ref('int_sales_lines_unioned') }}
    where channel_group = 'distributor'

),

distributors as (

    select * from {{ ref('dim_distributor') }}

),

yearly as (

    select
        {{ year_start('business_date') }} as year_start,
        distributor_id,
        sum(gross_sales) as gross_sales,
        sum(net_sales) as net_sales,
        sum(rebates) as rebates,
        sum(net_units) as units
    from lines
    group by {{ year_start('business_date') }}, distributor_id

),

ranked as (

    select
        yearly.*,
        row_number() over (
            partition by year_start order by gross_sales desc, distributor_id asc
        ) as gross_sales_rank,
        sum(gross_sales) over (partition by year_start) as all_distributors_gross_sales
    from yearly

),

with_top10 as (

    select
        ranked.*,
        sum(case when gross_sales_rank <= 10 then gross_sales else 0 end)
            over (partition by year_start) as top10_gross_sales
    from ranked

)

select
    with_top10.year_start,
    with_top10.distributor_id,
    distributors.distributor_name,
    distributors.region,
    distributors.region_name_zh,
    distributors.distributor_tier,
    cast(with_top10.gross_sales as decimal(18, 2)) as gross_sales,
    cast(with_top10.rebates as decimal(18, 2)) as rebates,
    cast(with_top10.net_sales as decimal(18, 2)) as net_sales,
    cast(with_top10.units as bigint) as units,
    cast(with_top10.gross_sales_rank as bigint) as gross_sales_rank,
    with_top10.gross_sales_rank <= 10 as is_top10,
    {{ safe_ratio('with_top10.gross_sales', 'all_distributors_gross_sales') }}
        as share_of_distributor_gross_sales,
    cast(with_top10.top10_gross_sales as decimal(18, 2)) as top10_gross_sales,
    cast(with_top10.all_distributors_gross_sales as decimal(18, 2)) as all_distributors_gross_sales,
    {{ safe_ratio('top10_gross_sales', 'all_distributors_gross_sales') }} as top10_distributor_share
from with_top10
left join distributors on with_top10.distributor_id = distributors.distributor_id
