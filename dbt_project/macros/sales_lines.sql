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
    Which sales lines an aggregate (int_*_aggregated) reads in a build: when it updates its
    table, the lines that the build rewrote, at the aggregate's grain (rebuilt_sales_lines);
    everything when it creates the table. Their pre-hook
    (delete_window_rows(also=rebuilt_rebates(...))) deletes the aggregates of the same lines.
#}
{% macro window_and_rebates(grain='day', date_column='business_date') -%}
    {%- if is_incremental() -%}
        {{ rebuilt_sales_lines(grain, date_column) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#
    The sales lines that a build over the business-date window (re)writes: the window's lines
    at a grain ('day', or 'month': the whole months it touches) and the allocated distributor
    rebates that int_distributor_rebates_allocated rebuilds with them (rebuilt_rebates: from
    the window's first month to the end of its year, dbt_project.yml); every line without a
    window. Data tests of the fact look at these lines too.
    Written as `rest of the year and (window or rebate)`, the same rows as `window or (rebate
    and rest of the year)` since the window lies within the rest of its year: a conjunct on
    the date is what the engine pushes into each channel table's scan and prunes row groups
    by, while a top-level `or` made every build read every sales line of the history.
#}
{% macro rebuilt_sales_lines(grain='day', date_column='business_date') -%}
    ({{ business_date_window(date_column, 'rest_of_year') }}
    and ({{ business_date_window(date_column, grain) }} or {{ is_allocated_rebate() }}))
{%- endmacro %}

{#-
    The allocated rebate lines that a build over the window rebuilds, on a date column (a
    business date or a month's first day): those of int_distributor_rebates_allocated's window
    (grain rest_of_year).
-#}
{% macro rebuilt_rebates(date_column='business_date') -%}
    ({{ is_allocated_rebate() }} and {{ business_date_window(date_column, 'rest_of_year') }})
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
