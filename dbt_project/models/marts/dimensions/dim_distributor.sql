-- One row per distributor with its region, resolved city and tier, contract and sales history.
with

distributors as (

    select * from {{ ref('int_distributors_located') }}

),

regions as (

    select * from {{ ref('ref_regions') }}

),

sales as (

    select
        distributor_id,
        min(first_business_date) as first_sale_date,
        max(last_business_date) as last_sale_date
    from {{ ref('int_location_months_aggregated') }}
    where channel_group = 'distributor' and line_type = 'sale'
    group by distributor_id

)

select
    distributors.distributor_id,
    distributors.distributor_name,
    distributors.region,
    regions.region_name_zh,
    distributors.province_name,
    distributors.city_name,
    distributors.city_code,
    distributors.province_code,
    distributors.city_tier,
    distributors.distributor_tier,
    distributors.contract_start,
    distributors.contract_end,
    distributors.contract_end is null as is_contract_running,
    sales.first_sale_date,
    sales.last_sale_date
from distributors
left join regions on distributors.region = regions.region
left join sales on distributors.distributor_id = sales.distributor_id
