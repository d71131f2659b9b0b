-- One row per place sales are booked to: every prefecture-level city of ref_cities (all of
-- them, with or without sales: coverage is measured against this list) and every overseas
-- country (a region of its own). geography_id = city_code or country code.
with

cities as (

    select * from {{ ref('ref_cities') }}

),

regions as (

    select * from {{ ref('ref_regions') }}

),

tiers as (

    select * from {{ ref('ref_city_tiers') }}

),

countries as (

    select * from {{ ref('ref_countries') }}

),

city_rows as (

    select
        cast(cities.city_code as {{ dbt.type_string() }}) as geography_id,
        'city' as geography_level,
        cast(cities.city_code as {{ dbt.type_string() }}) as city_code,
        cities.city_name_zh,
        cities.city_name_en,
        cast(cities.province_code as {{ dbt.type_string() }}) as province_code,
        cities.province_name_zh,
        cities.province_name_en,
        cities.region,
        regions.region_name_zh,
        regions.region_name_en,
        cast(cities.city_tier as {{ dbt.type_string() }}) as city_tier,
        tiers.city_tier_name_zh,
        cities.city_type,
        'cn' as country,
        '中国' as country_name_zh,
        'CNY' as currency,
        'Asia/Shanghai' as timezone
    from cities
    left join regions on cities.region = regions.region
    left join tiers
        on cast(cities.city_tier as {{ dbt.type_string() }})
        = cast(tiers.city_tier as {{ dbt.type_string() }})

),

country_rows as (

    select
        countries.country as geography_id,
        'country' as geography_level,
        cast(null as {{ dbt.type_string() }}) as city_code,
        cast(null as {{ dbt.type_string() }}) as city_name_zh,
        cast(null as {{ dbt.type_string() }}) as city_name_en,
        cast(null as {{ dbt.type_string() }}) as province_code,
        cast(null as {{ dbt.type_string() }}) as province_name_zh,
        cast(null as {{ dbt.type_string() }}) as province_name_en,
        countries.country as region,
        regions.region_name_zh,
        regions.region_name_en,
        cast(null as {{ dbt.type_string() }}) as city_tier,
        cast(null as {{ dbt.type_string() }}) as city_tier_name_zh,
        cast(null as {{ dbt.type_string() }}) as city_type,
        countries.country,
        countries.country_name_zh,
        countries.currency,
        countries.timezone
    from countries
    left join regions on countries.country = regions.region

)

select * from city_rows
union all
select * from country_rows
