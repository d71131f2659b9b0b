"""The code location: assembles assets, checks, jobs, schedules, sensors and resources.

Nothing is defined here (partitions: orchestration.automation.partitions; jobs, schedule and
file-arrival sensor: orchestration.automation.refresh; alert sensors:
orchestration.automation.alert_sensors). Steps run in-process, one after the other: a run
never has two steps opening the DuckDB file at once (and dagster.yaml lets one run at a time).
"""

from dagster import Definitions, in_process_executor

from orchestration.automation.alert_sensors import alert_sensors
from orchestration.automation.alerts import AlertNotifier
from orchestration.automation.refresh import (
    daily_refresh_job,
    daily_refresh_schedule,
    distributor_monthly_job,
    raw_file_sensor,
)
from orchestration.dbt.assets import (
    dbt_layer_assets,
    dbt_marts_assets,
    dbt_partitions_defs,
    dbt_resource,
)
from orchestration.ingest.assets import ingest_assets
from orchestration.publish.assets import build_publish_asset
from orchestration.publish.quality import data_quality_extra
from orchestration.quality.checks import build_gx_asset_checks
from orchestration.report.assets import build_report_asset
from orchestration.resources import build_resources
from orchestration.settings import EXPECTATIONS_DIR

publish_asset = build_publish_asset(
    sorted(dbt_marts_assets.keys),
    business_date_sql="SELECT max(business_date) FROM intermediate.int_sales_lines_checked",
    # the data-quality tables; which checks exist: every check of this code location
    extras=[data_quality_extra(lambda: defs.resolve_asset_graph().asset_check_keys)],
)
report_asset = build_report_asset()

partitions_defs = {
    **{asset.key: asset.partitions_def for asset in ingest_assets if asset.partitions_def},
    **dbt_partitions_defs,
}

defs = Definitions(
    assets=[*ingest_assets, *dbt_layer_assets, publish_asset, report_asset],
    asset_checks=build_gx_asset_checks(EXPECTATIONS_DIR, partitions_defs=partitions_defs),
    jobs=[daily_refresh_job, distributor_monthly_job],
    schedules=[daily_refresh_schedule],
    sensors=[*alert_sensors, raw_file_sensor],
    resources={**build_resources(), "dbt": dbt_resource(), "alerts": AlertNotifier()},
    executor=in_process_executor,
)
