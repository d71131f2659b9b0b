"""The channel review's own run: the `channel_review` job and the sensor that launches it.

The review reads the serving database only, so it does not hold up the refresh: BI tools see
new marts as soon as `publish/serving_db` is materialized, and the review (about twenty charts
drawn one after the other, 5 s for the running year, ~30 s for four years) follows in a run of
its own. A review that fails does not fail the refresh either; its run fails and alerts like any
other (the run-failure sensor watches every job).

- `channel_review` (job): the asset `publish/channel_review`, unpartitioned.
- `review_sensor`: requests a review run when the latest publish is newer than the latest
  review, once per publish (the run key names it): after the schedule's refresh, a run of the
  file sensor, a backfill (one review after the last of its runs, if they follow each other
  faster than the sensor ticks) or a publish materialized from the UI. Runs wait in the
  instance's queue (one at a time), so a review requested while its refresh still checks the
  marts starts after it.
- `warehouse run` renders the review the same way, after its refresh runs
  (orchestration.build): the sensor then finds it up to date.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterInstance,
    DefaultSensorStatus,
    EventLogRecord,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from orchestration.publish.assets import PUBLISH_ASSET_KEY
from orchestration.report.assets import REPORT_ASSET_KEY

REVIEW_JOB = "channel_review"
REVIEW_TRIGGER = "new publish"

review_job = define_asset_job(
    REVIEW_JOB,
    selection=AssetSelection.assets(REPORT_ASSET_KEY),
    description=(
        "The annual channel review rendered from the serving database, after each publish "
        "(review_sensor; `warehouse run` after its refresh runs)."
    ),
)


def _latest_materialization(instance: DagsterInstance, key: AssetKey) -> EventLogRecord | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def unreviewed_publish(instance: DagsterInstance) -> EventLogRecord | None:
    """The latest publish, when no review was materialized after it (storage ids grow with
    time in the event log); None when the review is up to date or nothing was published."""
    publish = _latest_materialization(instance, PUBLISH_ASSET_KEY)
    if publish is None:
        return None
    review = _latest_materialization(instance, REPORT_ASSET_KEY)
    if review is not None and review.storage_id > publish.storage_id:
        return None
    return publish


def review_tags(publish: EventLogRecord) -> dict[str, str]:
    """Tags of a review run: why it runs and the publish (run) it follows."""
    return {"warehouse/trigger": REVIEW_TRIGGER, "warehouse/publish_run": publish.run_id}


@sensor(
    name="review_sensor",
    job=review_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Renders the channel review after each publish, in a run of its own.",
)
def review_sensor(context: SensorEvaluationContext):
    publish = unreviewed_publish(context.instance)
    if publish is None:
        return SkipReason("The review shows the latest publish (or nothing is published yet)")
    return RunRequest(run_key=f"review-of-publish:{publish.storage_id}", tags=review_tags(publish))
