{#
    Business date of an instant in a named time zone (IANA name, e.g. 'Asia/Shanghai').
    `ts` must be a zoned timestamp (TIMESTAMPTZ on DuckDB, a UTC TIMESTAMP on Spark).
    There is no dbt cross-database macro for this, so it dispatches per adapter.
#}
{% macro local_date(ts, tz) -%}
    {{ return(adapter.dispatch('local_date', 'channel_warehouse')(ts, tz)) }}
{%- endmacro %}

{% macro default__local_date(ts, tz) -%}
    cast(({{ ts }} at time zone '{{ tz }}') as date)
{%- endmacro %}

{% macro duckdb__local_date(ts, tz) -%}
    cast(timezone('{{ tz }}', {{ ts }}) as date)
{%- endmacro %}

{% macro spark__local_date(ts, tz) -%}
    to_date(from_utc_timestamp({{ ts }}, '{{ tz }}'))
{%- endmacro %}
