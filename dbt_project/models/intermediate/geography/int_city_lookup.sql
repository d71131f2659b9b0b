-- Resolves the free-text province/city names of the feeds (online receiver address, stores,
-- distributors) to a city of ref_cities. Accepted spellings, compared trimmed and lower-case:
-- the Chinese name (with or without the 市 / 省 suffix), the English name and the code.
-- One row per (province_key, city_key); a spelling that would be ambiguous within a province
-- is dropped rather than guessed.
with

cities as (

    select * from {{ ref('ref_cities') }}

),

city_spellings as (

    select
        city_code,
        lower(trim(city_name_zh)) as city_key
    from cities
    union
    select
        city_code,
        lower(trim(city_name_en)) as city_key
    from cities
    union
    select
        city_code,
        lower(trim(city_code)) as city_key
    from cities
    union
    select
        city_code,
        substring(trim(city_name_zh), 1, length(trim(city_name_zh)) - 1) as city_key
    from cities
    where trim(city_name_zh) like '%市'

),

province_spellings as (

    select distinct
        province_code,
        lower(trim(province_name_zh)) as province_key
    from cities
    union
    select distinct
        province_code,
        lower(trim(province_name_en)) as province_key
    from cities
    union
    select distinct
        province_code,
        lower(trim(province_code)) as province_key
    from cities
    union
    select distinct
        province_code,
        substring(trim(province_name_zh), 1, length(trim(province_name_zh)) - 1) as province_key
    from cities
    where trim(province_name_zh) like '%省' or trim(province_name_zh) like '%市'

),

candidates as (

    select
        province_spellings.province_key,
        city_spellings.city_key,
        cities.city_code,
        cities.province_code,
        cities.region,
        cities.city_tier
    from cities
    inner join city_spellings on cities.city_code = city_spellings.city_code
    inner join province_spellings on cities.province_code = province_spellings.province_code

)

select
    province_key || '|' || city_key as lookup_key,
    province_key,
    city_key,
    city_code,
    province_code,
    region,
    city_tier
from candidates
qualify count(*) over (partition by province_key, city_key) = 1
