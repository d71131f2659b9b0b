"""Data quality: declarative GX suites (expectations/*.yml) run as Dagster asset checks.

- `suites`: YAML -> SuiteSpec -> GX ExpectationSuite (no GX import until a suite is built);
- `runner`: validate a DuckDB table with a suite (ephemeral GX context, SQL pushdown);
- `gx_duckdb`: the duckdb-engine fix that makes GX expectations run on DuckDB;
- `checks`: `build_gx_asset_checks(suites_dir)` -> Dagster asset checks.
"""
