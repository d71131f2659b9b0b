-- One row per SKU and price period. valid_to is inclusive and null while current;
-- valid_until fills it with 9999-12-31 so that joins on a date range stay simple.
with

source as (

    select * from {{ source('reference', 'products') }}

),

renamed as (

    select
        upper(trim(sku)) || '-' || cast(valid_from as {{ dbt.type_string() }}) as product_price_id,
        upper(trim(sku)) as sku,
        sku_name,
        upper(trim(series)) as series,
        series_name,
        lower(trim(product_line)) as product_line,
        cast(list_price as decimal(18, 2)) as list_price,
        cast(unit_cost as decimal(18, 2)) as unit_cost,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        coalesce(cast(valid_to as date), cast('9999-12-31' as date)) as valid_until,
        _source_file,
        _source_row,
        _loaded_at,
        _load_batch

    from source

)

select * from renamed
qualify {{ latest_delivery_rank('sku, valid_from') }} = 1
