"""dbt inside Dagster: the project, the translator (keys and groups by layer), the assets."""
