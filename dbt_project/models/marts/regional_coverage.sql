-- One row per period_type ('quarter' | 'year') x period_start x region x city_tier, with
-- 'all' roll-up rows (region 'all' = the whole company, city_tier 'all' = every tier).
-- Mainland regions get every tier of ref_city_tiers; overseas regions (countries, no city
-- list) get only city_tier 'all', from the period their country launched. Periods: every
-- quarter and year from the first to the latest business date in the data.
--
--   cities_total   every city of ref_cities in the scope (with or without sales);
--   cities_covered cities with at least one store or distributor with a sale line in the
--                  period (a city counts in its own region and tier, as ref_cities says);
--   active_stores / active_distributors: with a sale line in the period;
--   net_sales: all channels; store_net_sales: the store channel group;
--   share_of_store_sales: store_net_sales over region 'all' at the same city_tier;
--   distributor_target: the active_distributors target of finance for the period and region
--                  (city_tier 'all' rows only: targets have no tier).
-- Sales without a resolved city (tier unknown) count in city_tier 'all' only; overseas sales
-- count in their country and in region 'all'.
{%- set levels = [
    {'region': 'region', 'tier': 'city_tier', 'where': 'region is not null and city_tier is not null'},
    {'region': 'region', 'tier': "'all'", 'where': 'region is not null'},
    {'region': "'all'", 'tier': 'city_tier', 'where': 'city_tier is not null'},
    {'region': "'all'", 'tier': "'all'", 'where': 'true'},
] %}
with

location_months as (

    -- the sales lines aggregated per month x place x channel group x store x distributor x
    -- line type: a period is a set of whole months
    select * from {{ ref('int_location_months_aggregated') }}

),

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

targets as (

    select * from {{ ref('stg_reference__targets') }}

),

bounds as (

    select
        min(first_business_date) as first_date,
        max(last_business_date) as last_date
    from location_months

),

periods as (

    select distinct
        'quarter' as period_type,
        dim_date.quarter_start as period_start
    from {{ ref('dim_date') }} as dim_date
    cross join bounds
    where dim_date.date_day between bounds.first_date and bounds.last_date
    union all
    select distinct
        'year' as period_type,
        dim_date.year_start as period_start
    from {{ ref('dim_date') }} as dim_date
    cross join bounds
    where dim_date.date_day between bounds.first_date and bounds.last_date

),

periods_bounded as (

    select
        period_type,
        period_start,
        {{ period_end('period_type', 'period_start') }} as period_end
    from periods

),

scaffold as (

    -- mainland regions x tiers, plus their 'all' tier
    select
        periods_bounded.*,
        regions.region,
        cast(tiers.city_tier as {{ dbt.type_string() }}) as city_tier
    from periods_bounded
    cross join regions
    cross join tiers
    where regions.region_group = 'domestic'
    union all
    select
        periods_bounded.*,
        regions.region,
        'all' as city_tier
    from periods_bounded
    cross join regions
    where regions.region_group = 'domestic'
    union all
    -- overseas countries, from the period they launched
    select
        periods_bounded.*,
        regions.region,
        'all' as city_tier
    from periods_bounded
    cross join regions
    inner join countries on regions.region = countries.country
    where regions.region_group = 'overseas'
        and periods_bounded.period_end >= cast(countries.launched_on as date)
    union all
    -- the whole company per tier and overall
    select
        periods_bounded.*,
        'all' as region,
        cast(tiers.city_tier as {{ dbt.type_string() }}) as city_tier
    from periods_bounded
    cross join tiers
    union all
    select
        periods_bounded.*,
        'all' as region,
        'all' as city_tier
    from periods_bounded

),

months_in_periods as (

    select
        periods_bounded.period_type,
        periods_bounded.period_start,
        location_months.*
    from location_months
    inner join periods_bounded
        on location_months.month between periods_bounded.period_start and periods_bounded.period_end

),

sales as (

    {% for level in levels %}
    select
        period_type,
        period_start,
        {{ level.region }} as region,
        {{ level.tier }} as city_tier,
        sum(net_sales) as net_sales,
        sum(case when channel_group = 'store' then net_sales else 0 end) as store_net_sales,
        count(distinct case when channel_group = 'store' and line_type = 'sale' then store_id end)
            as active_stores,
        count(
            distinct case
                when channel_group = 'distributor' and line_type = 'sale' then distributor_id
            end
        ) as active_distributors
    from months_in_periods
    where {{ level.where }}
    group by period_type, period_start, {{ level.region }}, {{ level.tier }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

covered_cities as (

    select distinct
        months_in_periods.period_type,
        months_in_periods.period_start,
        cities.city_code,
        cities.region,
        cast(cities.city_tier as {{ dbt.type_string() }}) as city_tier
    from months_in_periods
    inner join cities
        on months_in_periods.city_code = cast(cities.city_code as {{ dbt.type_string() }})
    where months_in_periods.line_type = 'sale'
        and months_in_periods.channel_group in ('store', 'distributor')

),

coverage as (

    {% for level in levels %}
    select
        period_type,
        period_start,
        {{ level.region }} as region,
        {{ level.tier }} as city_tier,
        count(*) as cities_covered
    from covered_cities
    group by period_type, period_start, {{ level.region }}, {{ level.tier }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

city_counts as (

    {% for level in levels %}
    select
        {{ level.region }} as region,
        {{ level.tier }} as city_tier,
        count(*) as cities_total
    from (
        select
            region,
            cast(city_tier as {{ dbt.type_string() }}) as city_tier
        from cities
    ) as all_cities
    group by {{ level.region }}, {{ level.tier }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

distributor_targets as (

    select
        period_type,
        period_start,
        region,
        max(target_value) as distributor_target
    from targets
    where metric = 'active_distributors'
        and channel_group in ('all', 'distributor')
        and product_line = 'all'
        and series = 'all'
    group by period_type, period_start, region

),

joined as (

    select
        scaffold.period_type,
        scaffold.period_start,
        scaffold.period_end,
        scaffold.region,
        scaffold.city_tier,
        coalesce(city_counts.cities_total, 0) as cities_total,
        coalesce(coverage.cities_covered, 0) as cities_covered,
        coalesce(sales.active_stores, 0) as active_stores,
        coalesce(sales.active_distributors, 0) as active_distributors,
        case when scaffold.city_tier = 'all' then distributor_targets.distributor_target end
            as distributor_target,
        coalesce(sales.net_sales, 0) as net_sales,
        coalesce(sales.store_net_sales, 0) as store_net_sales
    from scaffold
    left join sales
        on scaffold.period_type = sales.period_type
        and scaffold.period_start = sales.period_start
        and scaffold.region = sales.region
        and scaffold.city_tier = sales.city_tier
    left join coverage
        on scaffold.period_type = coverage.period_type
        and scaffold.period_start = coverage.period_start
        and scaffold.region = coverage.region
        and scaffold.city_tier = coverage.city_tier
    left join city_counts
        on scaffold.region = city_counts.region
        and scaffold.city_tier = city_counts.city_tier
    left join distributor_targets
        on scaffold.period_type = distributor_targets.period_type
        and scaffold.period_start = distributor_targets.period_start
        and scaffold.region = distributor_targets.region

),

with_store_totals as (

    select
        joined.*,
        sum(case when region = 'all' then store_net_sales end)
            over (partition by period_type, period_start, city_tier) as all_regions_store_net_sales
    from joined

),

with_names as (

    select
        with_store_totals.*,
        case when with_store_totals.region = 'all' then '全部' else regions.region_name_zh end
            as region_name_zh,
        case when with_store_totals.city_tier = 'all' then '全部' else tiers.city_tier_name_zh end
            as city_tier_name_zh
    from with_store_totals
    left join regions on with_store_totals.region = regions.region
    left join tiers
        on with_store_totals.city_tier = cast(tiers.city_tier as {{ dbt.type_string() }})

)

select
    period_type,
    period_start,
    period_end,
    region,
    region_name_zh,
    city_tier,
    city_tier_name_zh,
    cast(cities_total as bigint) as cities_total,
    cast(cities_covered as bigint) as cities_covered,
    {{ safe_ratio('cities_covered', 'cities_total') }} as coverage_rate,
    case
        when cities_total > 0
            then cast(1 - {{ safe_ratio('cities_covered', 'cities_total') }} as decimal(18, 6))
    end as blank_rate,
    cast(active_stores as bigint) as active_stores,
    cast(active_distributors as bigint) as active_distributors,
    cast(distributor_target as bigint) as distributor_target,
    cast(net_sales as decimal(18, 2)) as net_sales,
    cast(store_net_sales as decimal(18, 2)) as store_net_sales,
    {{ safe_ratio('store_net_sales', 'all_regions_store_net_sales') }} as share_of_store_sales
from with_names
