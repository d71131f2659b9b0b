with

source as (

    select * from {{ source('reference', 'stores') }}

),

renamed as (

    select
        trim(store_id) as store_id,
        store_name,
        trim(province) as province_name,
        trim(city) as city_name,
        cast(opened_on as date) as opened_on,
        cast(closed_on as date) as closed_on,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
qualify {{ latest_delivery_rank('store_id') }} = 1
