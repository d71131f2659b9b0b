-- Every candidate sales line of the four channel groups, valid or not, in one shape
-- (macro sales_line_columns), with reject_reason null when the line counts.
-- int_sales_lines_unioned keeps the valid lines, int_sales_lines_rejected the others, so that
-- Σ candidates = Σ valid + Σ rejected and nothing is dropped silently.
-- The optional vars start_date / end_date restrict the business dates (no window by default).
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

),

{% endfor %}
extra_rebates as (

    select
        'distributor-extra-rebate-' || rebates.distributor_month_id as sales_line_id,
        'extra_rebate' as line_type,
        rebates.last_business_date as business_date,
        rebates.month,
        'distributor' as channel_group,
        'distributor' as channel,
        distributors.region,
        distributors.province_code as province,
        distributors.city_code,
        distributors.city_tier,
        'cn' as country,
        cast(null as {{ dbt.type_string() }}) as store_id,
        rebates.distributor_id,
        cast(null as {{ dbt.type_string() }}) as sku,
        cast(null as {{ dbt.type_string() }}) as series,
        cast(null as {{ dbt.type_string() }}) as product_line,
        0 as quantity_sold,
        0 as quantity_returned,
        0 as net_units,
        {{ money_zero() }} as gross_sales,
        {{ money_zero() }} as discounts,
        {{ money_zero() }} as returns,
        rebates.extra_rebate as rebates,
        cast(-rebates.extra_rebate as decimal(18, 2)) as net_sales,
        cast(null as decimal(18, 2)) as unit_cost,
        {{ money_zero() }} as cogs,
        'CNY' as currency,
        cast(1 as decimal(18, 10)) as fx_rate,
        cast(null as {{ dbt.type_string() }}) as order_id,
        rebates.distributor_id as customer_id,
        'int_distributor_rebates_computed' as source_table,
        cast(null as {{ dbt.type_string() }}) as _source_file,
        cast(null as {{ dbt.type_bigint() }}) as _source_row,
        cast(null as {{ dbt.type_timestamp() }}) as _loaded_at,
        cast(null as {{ dbt.type_string() }}) as reject_reason
    from {{ ref('int_distributor_rebates_computed') }} as rebates
    inner join {{ ref('int_distributors_located') }} as distributors
        on rebates.distributor_id = distributors.distributor_id
    where rebates.extra_rebate <> 0

),

unioned as (

{% for model_name in channel_models %}
    select * from {{ model_name }}
    union all
{% endfor %}
    select * from extra_rebates

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
where {{ business_date_window('business_date') }}
