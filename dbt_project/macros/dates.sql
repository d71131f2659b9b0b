{#- First day of the month / quarter / year of a date, as DATE (portable via dbt.date_trunc). -#}
{% macro month_start(date_expression) -%}
    cast({{ dbt.date_trunc('month', date_expression) }} as date)
{%- endmacro %}

{% macro quarter_start(date_expression) -%}
    cast({{ dbt.date_trunc('quarter', date_expression) }} as date)
{%- endmacro %}

{% macro year_start(date_expression) -%}
    cast({{ dbt.date_trunc('year', date_expression) }} as date)
{%- endmacro %}

{#
    Last day (inclusive) of a period given its type ('month' | 'quarter' | 'year') as a column
    or expression, and its first day.
#}
{% macro period_end(period_type, period_start) -%}
    case {{ period_type }}
        when 'month' then cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, period_start)) }} as date)
        when 'quarter' then cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 3, period_start)) }} as date)
        when 'year' then cast({{ dbt.dateadd('day', -1, dbt.dateadd('year', 1, period_start)) }} as date)
    end
{%- endmacro %}

{#- The same period one year earlier (first day). -#}
{% macro prior_year(date_expression) -%}
    cast({{ dbt.dateadd('year', -1, date_expression) }} as date)
{%- endmacro %}

{#
    Optional business-date window (inclusive): the vars start_date / end_date (by hand:
    `dbt build --vars ...`), else the environment variables WAREHOUSE_WINDOW_START / _END
    (how orchestration passes a partition window). Renders `true` when no window is set, so
    models can always write `where {{ business_date_window('col') }}`.
    grain 'month' widens the window to the whole calendar months it touches (for models
    aggregated by month, which rebuild a touched month whole); the column may then be a date
    or a month's first day. A model's grain is its meta.window_grain (default 'day').

    The environment is read only at execution: changed --vars make dbt re-parse the whole
    project (~5 s per invocation), while a value read under `execute` is not part of the
    parsed project, so the partial-parse state stays valid from one window to the next.
#}
{% macro business_date_window(date_column, grain='day') -%}
    {%- set start_date, end_date = business_date_bounds() -%}
    {%- if grain not in ('day', 'month') -%}
        {{ exceptions.raise_compiler_error('window_grain must be day or month, not ' ~ grain) }}
    {%- endif -%}
    {%- if start_date is none and end_date is none -%}
        true
    {%- else -%}
        {%- set first_day = "cast('" ~ start_date ~ "' as date)" -%}
        {%- set last_day = "cast('" ~ end_date ~ "' as date)" -%}
        {%- if grain == 'month' -%}
            {%- set first_day = month_start(first_day) -%}
            {%- set last_day = "cast(" ~ dbt.last_day(last_day, 'month') ~ " as date)" -%}
        {%- endif -%}
        (
        {%- if start_date is not none %} {{ date_column }} >= {{ first_day }}{% endif -%}
        {%- if start_date is not none and end_date is not none %} and{% endif -%}
        {%- if end_date is not none %} {{ date_column }} <= {{ last_day }}{% endif %}
        )
    {%- endif -%}
{%- endmacro %}

{#
    The rows an incremental model reads in a build: the window (at the model's grain) when it
    updates its table, everything when it creates the table (first build, --full-refresh).
    A model added to a running warehouse is thus complete after its first daily run, instead
    of holding that one day.
#}
{% macro incremental_window(date_column, grain='day') -%}
    {%- if is_incremental() -%}
        {{ business_date_window(date_column, grain) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- The window's [start_date, end_date] (either may be none) as business_date_window reads it. -#}
{% macro business_date_bounds() -%}
    {%- set start_date = var('start_date', none) -%}
    {%- set end_date = var('end_date', none) -%}
    {%- if execute and start_date is none and end_date is none -%}
        {%- set start_date = env_var('WAREHOUSE_WINDOW_START', '') or none -%}
        {%- set end_date = env_var('WAREHOUSE_WINDOW_END', '') or none -%}
    {%- endif -%}
    {{ return([start_date, end_date]) }}
{%- endmacro %}

{#
    Pre-hook of the incremental models: delete the rows of the build's business-date window
    (on the model's meta.window_column, widened to whole months when meta.window_grain is
    'month') before the model appends them again; `also` is an SQL
    condition for rows replaced whole at every build. Nothing on a first or --full-refresh build.
#}
{% macro delete_window_rows(also=none) -%}
    {%- if is_incremental() -%}
        {%- set meta = config.get('meta') or {} -%}
        {%- set window_column = meta.get('window_column') -%}
        {%- if not window_column -%}
            {{ exceptions.raise_compiler_error(this ~ ': delete_window_rows needs meta.window_column') }}
        {%- endif -%}
        delete from {{ this }} where {{ business_date_window(window_column, meta.get('window_grain') or 'day') }}
        {%- if also %} or ({{ also }}){% endif %}
    {%- endif -%}
{%- endmacro %}

{#- ISO day of week, 1 = Monday ... 7 = Sunday. -#}
{% macro iso_day_of_week(date_expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'channel_warehouse')(date_expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expression) -%}
    cast(extract(isodow from {{ date_expression }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expression) -%}
    cast(extract(DAYOFWEEK_ISO from {{ date_expression }}) as int)
{%- endmacro %}

{#- Whole days from start to end (end - start), as an integer. -#}
{% macro days_between(start_date, end_date) -%}
    cast({{ dbt.datediff(start_date, end_date, 'day') }} as {{ dbt.type_int() }})
{%- endmacro %}
