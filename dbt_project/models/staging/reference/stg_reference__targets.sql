-- One row per target: period x scope (region, channel_group, product_line, series; 'all' =
-- no restriction) x metric. Codes are normalised to the marts' spelling: lower-case codes,
-- upper-case series letters, 'all' lower-case.
with

source as (

    select * from {{ source('reference', 'targets') }}

),

renamed as (

    select
        lower(trim(period_type)) as period_type,
        cast(period_start as date) as period_start,
        lower(trim(region)) as region,
        lower(trim(channel_group)) as channel_group,
        lower(trim(product_line)) as product_line,
        case when lower(trim(series)) = 'all' then 'all' else upper(trim(series)) end as series,
        lower(trim(metric)) as metric,
        cast(target_value as decimal(18, 2)) as target_value,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

),

keyed as (

    select
        metric || '|' || period_type || '|' || cast(period_start as {{ dbt.type_string() }})
        || '|' || region || '|' || channel_group || '|' || product_line || '|' || series
            as target_id,
        *
    from renamed

)

select * from keyed
qualify {{ latest_delivery_rank('target_id') }} = 1
