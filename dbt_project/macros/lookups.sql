{#
    The rows of `relation` (a table or a view) whose `keys` (a list of columns) match a row of
    `probe` (a CTE or relation with the same key columns), for an incremental build in which a
    few rows of the window (a day's refunds) reference rows of any age in a big relation (the
    order lines): what the model then joins to. The keys must be unique in `relation`.

    On DuckDB the rows dated (`date_column`) from `lookback_days` before the window's first
    day are searched first: the relation's rows are stored in date order (the raw table is
    appended file by file, a day per file), so a filter on the date prunes the scan to a few
    row groups. Only the probe rows not found there are looked up among the older rows: on
    most days none, and DuckDB then skips that scan (a semi join with nothing to match).
    On a first or full build every row is looked up and the one hash join of the model is
    cheapest: the whole relation. Other engines: the whole relation (their own join strategy).
    (Until the order lines became a view over the raw table, the keys were matched first and
    the rows fetched by rowid, which a view does not have.)
#}
{% macro rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    {{ return(adapter.dispatch('rows_referenced_by', 'channel_warehouse')(relation, probe, keys, date_column, lookback_days)) }}
{%- endmacro %}

{% macro default__rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro duckdb__rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    {%- set start_date = business_date_bounds()[0] %}
    {%- if is_incremental() and start_date is not none %}
    {%- set since = dbt.dateadd('day', -lookback_days, "cast('" ~ start_date ~ "' as date)") %}
    select referenced.*
    from {{ relation }} as referenced
    semi join {{ probe }} as probe on {{ keys_match('referenced', 'probe', keys) }}
    where referenced.{{ date_column }} >= cast({{ since }} as date)
    union all
    select referenced.*
    from {{ relation }} as referenced
    semi join (
        select * from {{ probe }} as probe
        anti join (
            select {{ keys | join(', ') }} from {{ relation }}
            where {{ date_column }} >= cast({{ since }} as date)
        ) as recent on {{ keys_match('recent', 'probe', keys) }}
    ) as older on {{ keys_match('referenced', 'older', keys) }}
    where referenced.{{ date_column }} < cast({{ since }} as date)
    {%- else %}
    select * from {{ relation }}
    {%- endif %}
{%- endmacro %}

{#- `left`.key = `right`.key for every key (a list of columns), joined by `and`. -#}
{% macro keys_match(left, right, keys) -%}
    {%- for key in keys %}{{ left }}.{{ key }} = {{ right }}.{{ key }}{% if not loop.last %} and {% endif %}{% endfor -%}
{%- endmacro %}
