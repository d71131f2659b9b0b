-- Direct stores with their city resolved to ref_cities (city_code null when the name does not
-- resolve; such stores' sales are still counted, with an unknown city).
with

stores as (

    select * from {{ ref('stg_reference__stores') }}

),

city_lookup as (

    select * from {{ ref('int_city_lookup') }}

)

select
    stores.store_id,
    stores.store_name,
    stores.province_name,
    stores.city_name,
    city_lookup.city_code,
    city_lookup.province_code,
    city_lookup.region,
    city_lookup.city_tier,
    stores.opened_on,
    stores.closed_on
from stores
left join city_lookup
    on city_lookup.province_key = lower(stores.province_name)
    and city_lookup.city_key = lower(stores.city_name)
