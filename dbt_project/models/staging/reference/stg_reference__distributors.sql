with

source as (

    select * from {{ source('reference', 'distributors') }}

),

renamed as (

    select
        trim(distributor_id) as distributor_id,
        distributor_name,
        lower(trim(region)) as region,
        trim(province) as province_name,
        trim(city) as city_name,
        cast(distributor_tier as {{ dbt.type_int() }}) as distributor_tier,
        cast(contract_start as date) as contract_start,
        cast(contract_end as date) as contract_end,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
qualify {{ latest_delivery_rank('distributor_id') }} = 1
