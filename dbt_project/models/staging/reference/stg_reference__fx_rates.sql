-- One row per calendar day and currency: CNY per unit of the currency.
with

source as (

    select * from {{ source('reference', 'fx_rates') }}

),

renamed as (

    select
        upper(trim(currency)) || '-' || cast(rate_date as {{ dbt.type_string() }}) as fx_rate_id,
        cast(rate_date as date) as rate_date,
        upper(trim(currency)) as currency,
        cast(cny_per_unit as decimal(18, 10)) as cny_per_unit,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
qualify {{ latest_delivery_rank('currency, rate_date') }} = 1
