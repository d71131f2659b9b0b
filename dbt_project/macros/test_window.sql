{#
    Generic tests of a daily-partitioned model look only at the run's business-date window.

    A one-day refresh would otherwise re-test the whole history of every staging view and
    incremental table (unique, not_null, accepted_values... over 30M lines), so its cost would
    grow with history. A model opts in with `meta: {window_column: <date column>}`
    (dbt_project.yml); without a window (a full build, `dbt build` by hand) every row is
    tested. Overrides dbt's default__get_where_subquery and keeps a test's own `where`.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}{%- do conditions.append(where) -%}{%- endif -%}
    {%- set window = tested_model_window() -%}
    {%- if window -%}{%- do conditions.append(window) -%}{%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- The window condition on the tested model's window_column, or '' when there is none. -#}
{% macro tested_model_window() -%}
    {%- if not execute or not model.attached_node -%}{{ return('') }}{%- endif -%}
    {%- set node = graph.nodes.get(model.attached_node) -%}
    {%- set meta = (node.config.meta or {}) if node else {} -%}
    {%- set column = meta.get('window_column') -%}
    {%- if not column or business_date_bounds() == [none, none] -%}{{ return('') }}{%- endif -%}
    {{ return(business_date_window(column, meta.get('window_grain') or 'day') | trim) }}
{%- endmacro %}

{#
    The business dates (or months: date_column may be a month's first day) whose figures a
    build over the window rebuilt: the window's months and, for the allocated rebates, the
    rest of its year (rebuilt_rebates). The aggregates that the marts read are rebuilt at
    those grains and the marts whole from them, so the singular tests that reconcile the marts
    with the sales lines look at these months only: the others are those that the builds
    before checked. `true` without a window (a full build checks every month).
#}
{% macro rebuilt_months(date_column) -%}
    {{ business_date_window(date_column, 'rest_of_year') }}
{%- endmacro %}
