-- The 'all' roll-ups of regional_coverage agree with their parts: cities_total and
-- cities_covered of region 'all' = Σ over mainland regions at the same tier, and of tier
-- 'all' = Σ over tiers in the same region; a region's store sales shares add up to 1.
with

coverage as (

    select * from {{ ref('regional_coverage') }}

),

by_region as (

    select
        period_type,
        period_start,
        city_tier,
        sum(cities_total) as cities_total,
        sum(cities_covered) as cities_covered
    from coverage
    where region <> 'all'
    group by period_type, period_start, city_tier

),

by_tier as (

    select
        period_type,
        period_start,
        region,
        sum(cities_total) as cities_total,
        sum(cities_covered) as cities_covered
    from coverage
    where city_tier <> 'all'
    group by period_type, period_start, region

),

shares as (

    select
        period_type,
        period_start,
        city_tier,
        sum(share_of_store_sales) as share_sum
    from coverage
    where region <> 'all'
    group by period_type, period_start, city_tier
    having sum(store_net_sales) <> 0

)

select
    'region_rollup' as check_name,
    coverage.period_type,
    coverage.period_start
from coverage
inner join by_region
    on coverage.period_type = by_region.period_type
    and coverage.period_start = by_region.period_start
    and coverage.city_tier = by_region.city_tier
where coverage.region = 'all'
    and (
        coverage.cities_total <> by_region.cities_total
        or coverage.cities_covered <> by_region.cities_covered
    )
union all
select
    'tier_rollup' as check_name,
    coverage.period_type,
    coverage.period_start
from coverage
inner join by_tier
    on coverage.period_type = by_tier.period_type
    and coverage.period_start = by_tier.period_start
    and coverage.region = by_tier.region
where coverage.city_tier = 'all'
    and (
        coverage.cities_total <> by_tier.cities_total
        or coverage.cities_covered <> by_tier.cities_covered
    )
union all
select
    'store_share_sum' as check_name,
    period_type,
    period_start
from shares
where abs(share_sum - 1) > 0.0001
