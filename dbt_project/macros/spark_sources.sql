{#
    The raw tables on Spark: a view per source table over its folder of the Parquet landing
    (RAW_LANDING_DIR, written by orchestration/ingest/landing.py; a dated table partitioned by
    _business_date, which Spark discovers from the folder names). Views over paths, not tables:
    every read lists the folder again, so the days a run landed are seen without a repair.
    Run at the start of every dbt invocation (on-run-start); nothing on other engines, where
    ingestion writes the raw schema itself.
#}
{% macro create_raw_sources() -%}
    {{ return(adapter.dispatch('create_raw_sources', 'channel_warehouse')()) }}
{%- endmacro %}

{% macro default__create_raw_sources() -%}
    select 1
{%- endmacro %}

{% macro spark__create_raw_sources() -%}
    {%- if execute -%}
        {%- set landing = env_var('RAW_LANDING_DIR', '../.warehouse/raw_landing') -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for source in graph.sources.values() if source.schema == 'raw' -%}
            {%- do run_query(
                'create or replace view raw.' ~ source.identifier
                ~ ' as select * from parquet.`' ~ landing ~ '/' ~ source.identifier ~ '`'
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
