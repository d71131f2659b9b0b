-- One row per SKU with its series and product line, and the price period valid today
-- (the latest period when the SKU has been discontinued). Historical prices and costs:
-- staging model stg_reference__products.
with

products as (

    select * from {{ ref('stg_reference__products') }}

),

product_lines as (

    select * from {{ ref('ref_product_lines') }}

),

current_price as (

    select *
    from products
    qualify row_number() over (partition by sku order by valid_from desc) = 1

),

history as (

    select
        sku,
        min(valid_from) as first_valid_from,
        count(*) as price_periods
    from products
    group by sku

)

select
    current_price.sku,
    current_price.sku_name,
    current_price.series,
    current_price.series_name,
    current_price.product_line,
    product_lines.product_line_name_zh,
    product_lines.product_line_name_en,
    current_price.list_price as current_list_price,
    current_price.unit_cost as current_unit_cost,
    current_price.valid_from as current_price_valid_from,
    current_price.valid_to is null as is_on_sale,
    history.first_valid_from,
    cast(history.price_periods as bigint) as price_periods
from current_price
inner join history on current_price.sku = history.sku
left join product_lines on current_price.product_line = product_lines.product_line
