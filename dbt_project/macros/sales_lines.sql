{#
    The columns every channel-specific sales-line model produces, in this order, so that
    int_sales_lines_checked can union them. Documented in
    models/intermediate/sales/_sales__models.yml (int_sales_lines_unioned).
#}
{% macro sales_line_columns() -%}
    {{ return([
        'sales_line_id', 'line_type', 'business_date', 'month',
        'channel_group', 'channel',
        'region', 'province', 'city_code', 'city_tier', 'country',
        'store_id', 'distributor_id',
        'sku', 'series', 'product_line',
        'quantity_sold', 'quantity_returned', 'net_units',
        'gross_sales', 'discounts', 'returns', 'rebates', 'net_sales',
        'unit_cost', 'cogs',
        'currency', 'fx_rate',
        'order_id', 'customer_id',
        'source_table', '_source_file', '_source_row', '_loaded_at',
        'reject_reason'
    ]) }}
{%- endmacro %}

{#- net_sales from its components (all DECIMAL(18,2), nulls as 0). -#}
{% macro net_sales(gross, discounts, returns, rebates) -%}
    cast(
        coalesce({{ gross }}, 0) - coalesce({{ discounts }}, 0)
        - coalesce({{ returns }}, 0) - coalesce({{ rebates }}, 0)
        as decimal(18, 2)
    )
{%- endmacro %}

{#
    Which sales lines an aggregate (int_*_aggregated) reads in a build: the lines of its
    window at its grain ('day', or 'month': the whole months the window touches), and every
    allocated distributor rebate, which is rebuilt whole at each build (dbt_project.yml). Their
    pre-hook (delete_window_rows(also=is_allocated_rebate())) deletes the same rows.
#}
{% macro window_and_rebates(grain='day', date_column='business_date') -%}
    ({{ incremental_window(date_column, grain) }} or {{ is_allocated_rebate() }})
{%- endmacro %}

{#- A sales line of the rebate allocation (int_distributor_rebates_allocated). -#}
{% macro is_allocated_rebate(type_column='line_type') -%}
    {{ type_column }} in ('rebate', 'extra_rebate')
{%- endmacro %}

{#- The primary key of an aggregate: its grain's values joined by '|', nulls as ''. -#}
{% macro grain_key(columns) -%}
    {%- for column in columns -%}
        coalesce(cast({{ column }} as {{ dbt.type_string() }}), '')
        {%- if not loop.last %} || '|' || {% endif -%}
    {%- endfor -%}
{%- endmacro %}
