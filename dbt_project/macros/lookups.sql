{#
    The rows of the table `relation` whose `keys` (a list of columns) match a row of `probe`
    (a CTE or relation with the same key columns), for an incremental build in which a few
    rows of the window (a day's refunds) reference rows of any age in a big table (the order
    lines): what the model then joins to. The keys must be unique in `relation`.

    A plain join, even a semi-join, reads every column of every row of the big table: DuckDB
    pushes only the min / max of the probe's keys into the scan, which skips nothing for
    text keys spread over the whole history. So on DuckDB the keys are matched first, and
    the matched rows are read by rowid, which DuckDB filters inside the scan (a runtime
    filter on the integer rowid, row group by row group). The keys are matched among the
    rows dated (`date_column`) from `lookback_days` before the window's first day first: the
    table is stored in that order, so its scan reads a few row groups. Only the probe rows
    not found there are looked up in the whole table (two narrow columns of every row): on
    most days none, and DuckDB then skips that scan (a join with nothing to match).
    On a first or full build every row is looked up and the one hash join of the model is
    cheapest: the whole table. Other engines: the whole table (their own join strategy).
#}
{% macro rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    {{ return(adapter.dispatch('rows_referenced_by', 'channel_warehouse')(relation, probe, keys, date_column, lookback_days)) }}
{%- endmacro %}

{% macro default__rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    select * from {{ relation }}
{%- endmacro %}

{% macro duckdb__rows_referenced_by(relation, probe, keys, date_column, lookback_days) -%}
    {%- set start_date = business_date_bounds()[0] %}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where rowid in (
        with recent as (
            select referenced.rowid, referenced.{{ keys | join(', referenced.') }}
            from {{ relation }} as referenced
            semi join {{ probe }} as probe on {{ keys_match('referenced', 'probe', keys) }}
            {%- if start_date is not none %}
            where referenced.{{ date_column }} >= cast({{ dbt.dateadd('day', -lookback_days, "cast('" ~ start_date ~ "' as date)") }} as date)
            {%- endif %}
        ),
        older as (
            select * from {{ probe }} as probe
            anti join recent on {{ keys_match('recent', 'probe', keys) }}
        )
        select rowid from recent
        union all
        select referenced.rowid
        from {{ relation }} as referenced
        semi join older on {{ keys_match('referenced', 'older', keys) }}
    )
    {%- endif %}
{%- endmacro %}

{#- `left`.key = `right`.key for every key (a list of columns), joined by `and`. -#}
{% macro keys_match(left, right, keys) -%}
    {%- for key in keys %}{{ left }}.{{ key }} = {{ right }}.{{ key }}{% if not loop.last %} and {% endif %}{% endfor -%}
{%- endmacro %}
