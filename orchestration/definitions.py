"""The code location: assembles assets, checks, the jobs, the schedule, sensors and resources.

Nothing is defined here. This one Definitions object is what the UI, the daemon, the
`warehouse` CLI, the benchmark and the tests run (orchestration.build runs the full build as
runs of its `warehouse_refresh` job). Steps run in-process, one after the other: a run never has
two steps opening the DuckDB file at once (and dagster.yaml lets one run at a time).
"""

from dagster import AssetKey, Definitions, in_process_executor

from orchestration.automation.alert_sensors import alert_sensors
from orchestration.automation.alerts import AlertNotifier
from orchestration.automation.refresh import daily_refresh_schedule, raw_file_sensor, refresh_job
from orchestration.automation.review import review_job, review_sensor
from orchestration.dbt.assets import dbt_models, dbt_resource
from orchestration.gc_tuning import freeze_long_lived_objects
from orchestration.ingest.assets import DATED_TABLES, ingest_assets, raw_key
from orchestration.partitions import feed_months
from orchestration.publish.assets import build_publish_asset
from orchestration.publish.quality import data_quality_extra
from orchestration.quality.checks import build_gx_asset_checks
from orchestration.quality.suites import load_suites
from orchestration.report.assets import build_report_asset
from orchestration.resources import build_resources
from orchestration.settings import EXPECTATIONS_DIR

suites = load_suites(EXPECTATIONS_DIR)
mart_keys = sorted(key for key in dbt_models.keys if key.path[0] == "marts")
# A blocking check fails its run's steps downstream of its own asset only: the publish step
# lists every model a blocking suite checks, so that a failed ERROR check on any layer keeps
# the marts from BI (dbt's own ERROR tests already fail the dbt step).
blocking_model_keys = sorted(
    {AssetKey(list(s.asset_key)) for s in suites if s.blocking} & set(dbt_models.keys)
)
publish_asset = build_publish_asset(
    sorted({*mart_keys, *blocking_model_keys}),
    business_date_sql="SELECT max(business_date) FROM intermediate.int_sales_lines_checked",
    # the data-quality tables; which checks exist: every check of this code location
    extras=[data_quality_extra(lambda: defs.resolve_asset_graph().asset_check_keys)],
)
report_asset = build_report_asset()

defs = Definitions(
    assets=[*ingest_assets, dbt_models, publish_asset, report_asset],
    asset_checks=build_gx_asset_checks(
        suites, partitions_defs={raw_key(table): feed_months for table in DATED_TABLES}
    ),
    jobs=[refresh_job, review_job],
    schedules=[daily_refresh_schedule],
    sensors=[*alert_sensors, raw_file_sensor, review_sensor],
    resources={**build_resources(), "dbt": dbt_resource(), "alerts": AlertNotifier()},
    executor=in_process_executor,
)
# the definitions live as long as the process: out of the garbage collector's way
freeze_long_lived_objects()
