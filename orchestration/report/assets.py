"""The `publish/channel_review` asset: the annual channel review, rendered after each publish.

Wiring (by the code location):

    from orchestration.report.assets import build_report_asset
    report_asset = build_report_asset()

It depends on `publish/serving_db`: Dagster runs it after a successful publish and skips it
when the publish fails, so the last good reports stay in place (each file is also replaced
atomically). It reads only the serving database, so every number is of the version BI tools
see; its metadata links the files and previews the key charts in the UI.

Each publish renders the latest complete year and the running year (year to date), plus any
year served without a review file yet (the first run renders them all); earlier years keep the
version they were rendered from (named on their cover) unless the run config asks for them
(`years`, or `all_years` after a correction of old data).
"""

import base64
import time
from collections.abc import Sequence

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.publish.assets import PUBLISH_ASSET_KEY
from orchestration.report.data import Served
from orchestration.report.render import (
    PREVIEW_CHARTS,
    RenderedReport,
    render_reviews,
    report_file_name,
    reports_dir,
)
from orchestration.resources import ServingResource

REPORT_ASSET_KEY = AssetKey(["publish", "channel_review"])


class ReportConfig(Config):
    """Which reviews to render besides the latest complete year, the running year (year to
    date) and any year served that has no review file yet."""

    years: list[int] = []  # noqa: RUF012 (Dagster config fields are pydantic fields)
    all_years: bool = False  # every year served (after a correction of earlier years' data)


def build_report_asset(publish_key: AssetKey = PUBLISH_ASSET_KEY) -> AssetsDefinition:
    """Build the `publish/channel_review` asset, downstream of `publish_key`."""

    @asset(
        key=REPORT_ASSET_KEY,
        deps=[publish_key],
        group_name="publish",
        kinds={"python", "html"},
        description=(
            "The annual channel review (销售部年度渠道管理与业绩复盘): one self-contained HTML "
            "file per year (Chinese with English beside it, charts inline, font embedded, no "
            "external URL), read from the serving database only, in "
            "<WAREHOUSE_STATE_DIR>/reports/channel_review_<year>.html. Each publish renders "
            "the latest complete year, the running year and any year without a file yet."
        ),
    )
    def channel_review(
        context: AssetExecutionContext, config: ReportConfig, serving: ServingResource
    ) -> MaterializeResult:
        started = time.monotonic()
        out_dir = reports_dir(serving.state_dir)
        with Served(serving.path) as served:
            version = served.version()
            served_years = served.years()
            years = sorted(
                set(served_years if config.all_years else served.current_years())
                | set(config.years)
                | {y for y in served_years if not (out_dir / report_file_name(y)).exists()}
            )
            default_year = served.default_year()
        _warn_if_not_latest_publish(context, publish_key, version.publish_id)
        reports = render_reviews(serving.path, out_dir, years=years, previews_of=default_year)
        main = next((r for r in reports if r.year == default_year), reports[-1])
        context.log.info(
            f"rendered {len(reports)} review(s) of version {version.publish_id} in "
            f"{time.monotonic() - started:.1f} s: " + ", ".join(str(r.path) for r in reports)
        )
        return MaterializeResult(
            metadata={
                "report_path": MetadataValue.path(str(main.path)),
                "report_year": main.period.label_en,
                "reports": MetadataValue.md(_reports_table(reports)),
                "preview": MetadataValue.md(_preview(main)),
                "publish_id": version.publish_id,
                "latest_business_date": str(version.latest_business_date),
                "size_bytes": sum(r.size_bytes for r in reports),
                "duration_s": round(time.monotonic() - started, 3),
            }
        )

    return channel_review


def _warn_if_not_latest_publish(
    context: AssetExecutionContext, publish_key: AssetKey, served_id: str
) -> None:
    """The report shows the serving file's version (what BI tools see); say so when that is
    not the one the publish asset last recorded (a rollback, a publish outside Dagster)."""
    event = context.instance.get_latest_materialization_event(publish_key)
    materialization = event.asset_materialization if event else None
    recorded = materialization.metadata.get("publish_id") if materialization else None
    if recorded is not None and recorded.value != served_id:
        context.log.warning(
            f"the serving database holds version {served_id}, the last publish recorded "
            f"{recorded.value}: the reviews show {served_id}, the version BI tools see"
        )


def _reports_table(reports: Sequence[RenderedReport]) -> str:
    rows = ["| year | period | file | size | render |", "|---|---|---|---|---|"]
    rows += [
        f"| {r.year} | {r.period.label_en} | `{r.path}` | {r.size_bytes / 1e6:.2f} MB | "
        f"{r.seconds:.1f} s |"
        for r in reports
    ]
    return "\n".join(rows)


def _preview(report: RenderedReport) -> str:
    """Markdown with the key charts as PNG data URLs (the UI shows them inline)."""
    parts = [f"**{report.period.label_zh} 渠道复盘 · {report.period.label_en}**"]
    for chart_id in PREVIEW_CHARTS:
        png = report.previews.get(chart_id)
        if png:
            data = base64.b64encode(png).decode("ascii")
            parts.append(f"![{chart_id}](data:image/png;base64,{data})")
    return "\n\n".join(parts)
