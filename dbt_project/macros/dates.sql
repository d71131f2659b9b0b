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
    aggregated by month, which rebuild a touched month whole); grain 'rest_of_year' widens it
    from the first day of its first month to the last day of its last year: what a change in
    the window can move in a figure accrued over the calendar year (the tiered distributor
    rebate: a month's lines change that month's allocation and the year-to-date extra rebate
    of that month and every later month of its year, never an earlier one). With a grain
    other than 'day' the column may be a date or a month's first day. A model's grain is its
    meta.window_grain (default 'day').

    The environment is read only at execution: changed --vars make dbt re-parse the whole
    project (~5 s per invocation), while a value read under `execute` is not part of the
    parsed project, so the partial-parse state stays valid from one window to the next.
#}
{% macro business_date_window(date_column, grain='day') -%}
    {%- set start_date, end_date = business_date_bounds() -%}
    {#- the period whose last day ends the window, per grain (the others start on a month) -#}
    {%- set last_day_of = {'day': none, 'month': 'month', 'rest_of_year': 'year'} -%}
    {%- if grain not in last_day_of -%}
        {{ exceptions.raise_compiler_error('window_grain must be day, month or rest_of_year, not ' ~ grain) }}
    {%- endif -%}
    {%- if start_date is none and end_date is none -%}
        true
    {%- else -%}
        {%- set first_day = "cast('" ~ start_date ~ "' as date)" -%}
        {%- set last_day = "cast('" ~ end_date ~ "' as date)" -%}
        {%- if last_day_of[grain] -%}
            {%- set first_day = month_start(first_day) -%}
            {%- set last_day = "cast(" ~ dbt.last_day(last_day, last_day_of[grain]) ~ " as date)" -%}
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

{#
    The end of an incremental model's query: its rows in the order of their business date
    (the model's window column), so that its table is stored in that order. A full build
    otherwise writes them in the order of its last hash join or window function: every row
    group then spans the whole history, and DuckDB's zone maps (min / max per row group) skip
    nothing when a build or a test reads one window. Appends of a window come in date order
    anyway. Measured at 30M lines: the models and tests of a one-day staging + intermediate
    build took half the time (27 s -> 13-17 s); the sort costs a full build of the 17M-row
    online models about a third more CPU (+16 to +35 s each). The two largest models,
    int_online_sales_lines and int_store_sales_lines, go without it since ingestion loads the
    raw files in date order: they keep much of that order (a row group spans 36 / 63 days,
    median, at 30M lines), and the sort cost each 8.5 / 5 s of its ~34 / ~18 s alone.
#}
{% macro stored_in_date_order(date_column) -%}
    {{ return(adapter.dispatch('stored_in_date_order', 'channel_warehouse')(date_column)) }}
{%- endmacro %}

{% macro default__stored_in_date_order(date_column) -%}
    order by {{ date_column }}
{%- endmacro %}

{#- Spark: the tables are partitioned by that date already; a global sort would only cost. -#}
{% macro spark__stored_in_date_order(date_column) -%}{%- endmacro %}

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
    (on the model's meta.window_column, widened by meta.window_grain) before the model appends
    them again; `also` is an SQL condition for more rows that the build rebuilds (an
    aggregate: the allocated rebates rebuilt with the window, macro rebuilt_rebates). Nothing
    on a first or --full-refresh build.
#}
{% macro delete_window_rows(also=none) -%}
    {{ return(adapter.dispatch('delete_window_rows', 'channel_warehouse')(also)) }}
{%- endmacro %}

{% macro default__delete_window_rows(also) -%}
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

{#- Spark: nothing to delete; insert_overwrite replaces the partitions the build writes. -#}
{% macro spark__delete_window_rows(also) -%}{%- endmacro %}

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
