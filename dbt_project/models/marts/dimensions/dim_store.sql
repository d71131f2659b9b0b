-- One row per direct store with its resolved city, region and tier and its sales history.
with

stores as (

    select * from {{ ref('int_stores_located') }}

),

regions as (

    select * from {{ ref('ref_regions') }}

),

sales as (

    select
        store_id,
        min(first_business_date) as first_sale_date,
        max(last_business_date) as last_sale_date
    from {{ ref('int_location_months_aggregated') }}
    where channel_group = 'store' and line_type = 'sale'
    group by store_id

)

select
    stores.store_id,
    stores.store_name,
    stores.province_name,
    stores.city_name,
    stores.city_code,
    stores.province_code,
    stores.region,
    regions.region_name_zh,
    stores.city_tier,
    stores.opened_on,
    stores.closed_on,
    stores.closed_on is null as is_open,
    sales.first_sale_date,
    sales.last_sale_date
from stores
left join regions on stores.region = regions.region
left join sales on stores.store_id = sales.store_id
