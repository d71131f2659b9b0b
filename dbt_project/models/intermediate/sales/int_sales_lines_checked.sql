-- Every candidate sales line of the four channel groups, valid or not, in one shape
-- (macro sales_line_columns), with reject_reason null when the line counts.
-- int_sales_lines_unioned keeps the valid lines, int_sales_lines_rejected the others, so that
-- Σ candidates = Σ valid + Σ rejected and nothing is dropped silently.
-- A view: the channel tables are the incremental ones (see dbt_project.yml).
{%- set columns = sales_line_columns() %}
{%- set channel_models = [
    'int_online_sales_lines',
    'int_online_refund_lines',
    'int_store_sales_lines',
    'int_distributor_sales_lines',
    'int_overseas_sales_lines',
] %}
with

{% for model_name in channel_models %}
{{ model_name }} as (

    select {{ columns | join(', ') }}
    from {{ ref(model_name) }}
    {%- if model_name == 'int_distributor_sales_lines' %}
    where line_type <> 'rebate' or reject_reason is not null
    {%- endif %}

),

{% endfor %}
-- standard rebate lines are replaced by their allocation to the month's goods lines
-- (int_distributor_rebates_allocated, which also holds the tiered extra rebate); a rejected
-- rebate line stays here with its reason
distributor_rebates as (

    select {{ columns | join(', ') }}
    from {{ ref('int_distributor_rebates_allocated') }}

),

unioned as (

    {% for model_name in channel_models %}
    select * from {{ model_name }}
    union all
    {% endfor %}
    select * from distributor_rebates

)

select
    sales_line_id,
    line_type,
    business_date,
    month,
    channel_group,
    channel,
    region,
    province,
    city_code,
    city_tier,
    country,
    store_id,
    distributor_id,
    sku,
    series,
    product_line,
    cast(quantity_sold as {{ dbt.type_int() }}) as quantity_sold,
    cast(quantity_returned as {{ dbt.type_int() }}) as quantity_returned,
    cast(net_units as {{ dbt.type_int() }}) as net_units,
    cast(gross_sales as decimal(18, 2)) as gross_sales,
    cast(discounts as decimal(18, 2)) as discounts,
    cast(returns as decimal(18, 2)) as returns,
    cast(rebates as decimal(18, 2)) as rebates,
    cast(net_sales as decimal(18, 2)) as net_sales,
    cast(unit_cost as decimal(18, 2)) as unit_cost,
    cast(cogs as decimal(18, 2)) as cogs,
    currency,
    cast(fx_rate as decimal(18, 10)) as fx_rate,
    order_id,
    customer_id,
    source_table,
    _source_file,
    _source_row,
    _loaded_at,
    reject_reason
from unioned
