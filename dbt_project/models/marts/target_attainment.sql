-- One row per net_sales target of finance (raw.targets, metric net_sales): period_type
-- ('month' | 'quarter' | 'year') x period_start x region x channel_group x product_line x
-- series, each a code or 'all' (no restriction). Distributor-count targets are in
-- regional_coverage.distributor_target.
--
--   as_of_date       the latest business date in the data; a period is complete when it ends
--                    on or before it, running when it contains it, future when it starts after.
--   actual           net_sales in the scope from period_start to min(period_end, as_of_date).
--   attainment_rate  actual / target (the full-period target); gap = actual - target.
--   target_pro_rata  target x elapsed days / days of the period (= target when complete).
--   status           actual / target_pro_rata >= 1.0 'met', >= 0.9 'at_risk', else 'missed';
--                    null for a future period.
--   yoy_growth_rate  (actual - prior_year_actual) / prior_year_actual, the prior year taken over
--                    the same days (the same elapsed part for a running period); null when the
--                    prior-year period starts before the first business date in the data or
--                    its actual is 0.
{%- set dims = ['region', 'channel_group', 'product_line', 'series'] %}
with

lines as (

    -- the sales lines summed per day and scope dimensions
    select * from {{ ref('int_sales_days_aggregated') }}

),

targets as (

    select * from {{ ref('stg_reference__targets') }}
    where metric = 'net_sales'

),

as_of as (

    select
        min(business_date) as first_date,
        max(business_date) as as_of_date
    from lines

),

-- the daily amounts under each of the 16 scopes a day's sales belong to (each dimension
-- either its own code or 'all': the grouping sets of a cube), so that targets join on
-- equality and meet one row per day
scoped as (

    select
        business_date,
        {%- for dim in dims %}
        case when grouping({{ dim }}) = 1 then 'all' else {{ dim }} end as {{ dim }},
        {%- endfor %}
        sum(net_sales) as net_sales
    from lines
    group by business_date, cube({{ dims | join(', ') }})

),

target_periods as (

    select
        targets.*,
        {{ period_end('targets.period_type', 'targets.period_start') }} as period_end,
        as_of.as_of_date,
        as_of.first_date
    from targets
    cross join as_of

),

windows as (

    select
        target_periods.*,
        case
            when as_of_date >= period_end then 'complete'
            when as_of_date >= period_start then 'running'
            else 'future'
        end as period_state,
        case when as_of_date >= period_end then period_end else as_of_date end as actual_until,
        {{ days_between('period_start', 'period_end') }} + 1 as period_days
    from target_periods

),

windows_with_prior as (

    select
        windows.*,
        {{ prior_year('period_start') }} as prior_start,
        {{ prior_year('actual_until') }} as prior_until,
        case
            when period_state = 'future' then 0
            else {{ days_between('period_start', 'actual_until') }} + 1
        end as elapsed_days
    from windows

),

actuals as (

    select
        windows_with_prior.target_id,
        sum(
            case
                when scoped.business_date between windows_with_prior.period_start
                    and windows_with_prior.actual_until
                    then scoped.net_sales
            end
        ) as actual,
        sum(
            case
                when scoped.business_date between windows_with_prior.prior_start
                    and windows_with_prior.prior_until
                    then scoped.net_sales
            end
        ) as prior_year_actual
    from windows_with_prior
    inner join scoped
        on {% for dim in dims %}scoped.{{ dim }} = windows_with_prior.{{ dim }}
        and {% endfor %}scoped.business_date
        between windows_with_prior.prior_start and windows_with_prior.actual_until
    group by windows_with_prior.target_id

),

measured as (

    select
        windows_with_prior.*,
        cast(coalesce(actuals.actual, 0) as decimal(18, 2)) as actual,
        case
            when windows_with_prior.prior_start >= windows_with_prior.first_date
                and windows_with_prior.period_state <> 'future'
                then cast(coalesce(actuals.prior_year_actual, 0) as decimal(18, 2))
        end as prior_year_actual,
        {{ money('target_value * elapsed_days / period_days') }} as target_pro_rata
    from windows_with_prior
    left join actuals on windows_with_prior.target_id = actuals.target_id

),

rated as (

    select
        measured.*,
        case
            when period_state = 'future' then null
            else {{ safe_ratio('actual', 'target_pro_rata') }}
        end as pro_rata_attainment_rate
    from measured

),

channel_groups as (

    select distinct
        channel_group,
        channel_group_name_zh
    from {{ ref('ref_channels') }}

),

labels as (

    select
        rated.*,
        case when rated.region = 'all' then '全部' else regions.region_name_zh end as region_name_zh,
        case
            when rated.channel_group = 'all' then '全部'
            else channel_groups.channel_group_name_zh
        end as channel_group_name_zh,
        case when rated.product_line = 'all' then '全部' else product_lines.product_line_name_zh end
            as product_line_name_zh
    from rated
    left join {{ ref('ref_regions') }} as regions
        on rated.region = regions.region
    left join channel_groups
        on rated.channel_group = channel_groups.channel_group
    left join {{ ref('ref_product_lines') }} as product_lines
        on rated.product_line = product_lines.product_line

)

select
    period_type,
    period_start,
    period_end,
    region,
    region_name_zh,
    channel_group,
    channel_group_name_zh,
    product_line,
    product_line_name_zh,
    series,
    cast(target_value as decimal(18, 2)) as target,
    actual,
    cast(actual - target_value as decimal(18, 2)) as gap,
    {{ safe_ratio('actual', 'target_value') }} as attainment_rate,
    prior_year_actual,
    {{ safe_ratio('actual - prior_year_actual', 'prior_year_actual') }} as yoy_growth_rate,
    case
        when pro_rata_attainment_rate is null then null
        when pro_rata_attainment_rate >= {{ var('attainment_met_at') }} then 'met'
        when pro_rata_attainment_rate >= {{ var('attainment_at_risk_from') }} then 'at_risk'
        else 'missed'
    end as status,
    period_state,
    as_of_date,
    target_pro_rata,
    pro_rata_attainment_rate
from labels
