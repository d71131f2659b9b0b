"""The code location: assembles assets, checks, sensors and resources. Nothing is defined here."""

from dagster import Definitions, define_asset_job

from orchestration.automation.alert_sensors import alert_sensors
from orchestration.automation.alerts import AlertNotifier
from orchestration.dbt.assets import dbt_layer_assets, dbt_marts_assets, dbt_resource
from orchestration.ingest.assets import ingest_assets
from orchestration.publish.assets import build_publish_asset
from orchestration.quality.checks import build_gx_asset_checks
from orchestration.resources import build_resources
from orchestration.settings import EXPECTATIONS_DIR

publish_asset = build_publish_asset(
    sorted(dbt_marts_assets.keys),
    business_date_sql="SELECT max(business_date) FROM intermediate.int_sales_lines_checked",
)

warehouse_refresh_job = define_asset_job(
    "warehouse_refresh", selection="*",
    description="Everything: raw feeds -> staging -> intermediate -> marts -> serving database.",
)

defs = Definitions(
    assets=[*ingest_assets, *dbt_layer_assets, publish_asset],
    asset_checks=build_gx_asset_checks(EXPECTATIONS_DIR),
    jobs=[warehouse_refresh_job],
    sensors=alert_sensors,
    resources={**build_resources(), "dbt": dbt_resource(), "alerts": AlertNotifier()},
)
