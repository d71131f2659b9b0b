-- Distributors with their city resolved to ref_cities. The region is the distributor's own
-- region as delivered (the rules book distributor sales to "the distributor's city and
-- region"), falling back to the city's region when the feed leaves it empty.
with

distributors as (

    select * from {{ ref('stg_reference__distributors') }}

),

city_lookup as (

    select * from {{ ref('int_city_lookup') }}

)

select
    distributors.distributor_id,
    distributors.distributor_name,
    coalesce(nullif(distributors.region, ''), city_lookup.region) as region,
    city_lookup.region as city_region,
    distributors.province_name,
    distributors.city_name,
    city_lookup.city_code,
    city_lookup.province_code,
    city_lookup.city_tier,
    distributors.distributor_tier,
    distributors.contract_start,
    distributors.contract_end
from distributors
left join city_lookup
    on city_lookup.province_key = lower(distributors.province_name)
    and city_lookup.city_key = lower(distributors.city_name)
