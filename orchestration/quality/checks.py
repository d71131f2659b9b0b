"""Dagster asset checks built from the suite files: one check per suite, on the suite's asset.

- severity `error` suites are `blocking` by default: in a run that also materializes assets
  downstream of the checked asset, Dagster waits for the check and skips those assets when it
  fails with AssetCheckSeverity.ERROR. `warn` suites never block.
- The check fails with severity ERROR when an error-severity expectation fails *or* any
  expectation could not run; with WARN when only warn-severity expectations failed.
- Could-not-run is never shown as bad data: it sets `gx_could_not_run=True` and lists
  "could not run: <exception>" under `gx_errors`; data failures are under
  `failed_expectations` with unexpected counts and sample values.
- The DuckDB file comes from the `duckdb` resource (DuckDBResource.database), opened with the
  resource's exact config so both share the process's database instance.
- Partitioned assets (the raw feeds, by month): pass the asset's PartitionsDefinition in
  `partitions_defs`; a suite with `partition_column` is then a partitioned check and validates
  the rows of the run's month. A run over a range of months validates the range once; when it
  fails, the failed expectations are validated again month by month, and each month gets its
  own evaluation (passed or failed), so a defect of one day's file shows on its month only.
- Unpartitioned assets (the dbt models): a suite with `partition_column` validates the
  business dates the run's dbt build rebuilt (orchestration.dbt.window), everything after a full
  build or outside a run that built.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)

from orchestration.partitions import key_date, month_end
from orchestration.quality.runner import (
    PartitionFilter,
    ValidationOutcome,
    recount_by_partition,
    validate_table,
)
from orchestration.quality.suites import SuiteSpec, load_suites
from orchestration.resources import opened_config
from orchestration.settings import load_settings

DUCKDB_RESOURCE_KEY = "duckdb"


def _partition_filter(
    context: AssetCheckExecutionContext, spec: SuiteSpec
) -> PartitionFilter | None:
    """The rows of the check's partition, or of the run's partition range."""
    window = context.partition_time_window
    return _time_filter(spec, _as_sql_time(window.start), _as_sql_time(window.end))


def _time_filter(spec: SuiteSpec, start: str, end: str) -> PartitionFilter:
    return PartitionFilter(
        spec.partition_column,
        start=start,
        end=end,
        expression=spec.partition_expression,
        grain=spec.partition_grain,
    )


def _dbt_window_filter(
    context: AssetCheckExecutionContext, spec: SuiteSpec, resource: Any
) -> PartitionFilter | None:
    """The business dates the run's dbt build rebuilt; None (the whole table) after a full
    build, or in a run that built nothing."""
    if spec.partition_column is None:
        return None
    from orchestration.dbt.window import build_of_run

    with resource.get_connection() as connection:
        build = build_of_run(connection, context.run.run_id)
    if build is None or build.window is None:
        return None
    first, last = build.window
    return _time_filter(spec, first.isoformat(), (last + timedelta(days=1)).isoformat())


def _as_sql_time(t: Any) -> str:
    """A window bound as a literal that compares right with DATE and TIMESTAMP columns."""
    if (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0):
        return t.date().isoformat()
    return t.replace(tzinfo=None).isoformat(sep=" ")


def outcome_to_check_result(outcome: ValidationOutcome, spec: SuiteSpec) -> AssetCheckResult:
    """Map a validation outcome to the check's result: passed, severity, metadata."""
    failures = outcome.failures
    errors = outcome.errors
    metadata: dict[str, Any] = {
        "table": MetadataValue.text(outcome.table),
        "suite_file": MetadataValue.path(str(spec.path)),
        # the severity this evaluation ran at (a warn expectation fails WARN in an error suite)
        "severity": MetadataValue.text((outcome.severity or "passed").upper()),
        "suite_default_severity": MetadataValue.text(spec.severity),
        "blocking": MetadataValue.bool(spec.blocking),
        "expectations_evaluated": MetadataValue.int(len(outcome.expectations)),
        "expectations_failed": MetadataValue.int(len(failures)),
        "gx_could_not_run": MetadataValue.bool(bool(errors)),
        "run_seconds": MetadataValue.float(round(outcome.run_seconds, 3)),
    }
    if outcome.partition is not None:
        metadata["partition"] = MetadataValue.text(outcome.partition)
    if errors:
        metadata["gx_errors"] = MetadataValue.json(errors)
    if failures:
        metadata["failed_expectations"] = MetadataValue.json([e.to_dict() for e in failures])
        metadata["unexpected_total"] = MetadataValue.int(
            sum(e.unexpected_count or 0 for e in failures)
        )
    if outcome.data_docs_path is not None:
        metadata["data_docs"] = MetadataValue.url(outcome.data_docs_url)
        metadata["data_docs_path"] = MetadataValue.path(str(outcome.data_docs_path))
    elif outcome.data_docs_error:
        metadata["data_docs_error"] = MetadataValue.text(outcome.data_docs_error)
    metadata["summary"] = MetadataValue.md(_markdown(outcome))

    severity = AssetCheckSeverity.WARN if outcome.severity == "warn" else AssetCheckSeverity.ERROR
    if outcome.success:
        description = f"{len(outcome.expectations)} expectations passed"
    elif errors:
        description = f"{len(errors)} could not run; {len(failures)} failed"
    else:
        description = f"{len(failures)} of {len(outcome.expectations)} expectations failed"
    return AssetCheckResult(
        passed=outcome.success,
        severity=severity,
        metadata=metadata,
        description=description,
    )


def _markdown(outcome: ValidationOutcome) -> str:
    lines = [
        "| # | expectation | column | severity | result | unexpected | sample |",
        "|---" * 7 + "|",
    ]
    for e in outcome.expectations:
        if e.could_not_run:
            result, unexpected, sample = f"could not run: {e.error}", "", ""
        else:
            result = "passed" if e.success else "FAILED"
            unexpected = (
                str(e.unexpected_count)
                if e.unexpected_count is not None
                else (f"observed {e.observed_value}" if e.observed_value is not None else "")
            )
            sample = str(e.sample)[:120] if e.failed and e.sample else ""
        cells = [str(e.index), e.type, e.column or "", e.severity, result, unexpected, sample]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if outcome.error:
        lines.insert(0, f"**could not run:** {outcome.error}\n")
    if outcome.data_docs_url:
        lines.append(f"\n[Data Docs]({outcome.data_docs_url})")
    return "\n".join(lines)


def _month_filter(spec: SuiteSpec, key: str) -> PartitionFilter:
    first = key_date(key)
    return _time_filter(spec, first.isoformat(), (month_end(first) + timedelta(days=1)).isoformat())


def _outcomes_per_partition(
    context: AssetCheckExecutionContext,
    spec: SuiteSpec,
    range_outcome: ValidationOutcome,
    resource: Any,
    validate: Callable[[SuiteSpec, PartitionFilter | None], ValidationOutcome],
) -> dict[str, ValidationOutcome]:
    """The outcome of each month of a range run. The range passed (or could not run): the same
    for every month. Else its failed SQL expectations are counted again per month in DuckDB
    (runner.recount_by_partition); a failed expectation of another kind is validated again by
    GX for each month, with the expectations that failed only."""
    keys = list(context.partition_keys)
    if range_outcome.success or range_outcome.error is not None:
        return dict.fromkeys(keys, range_outcome)
    filters = [_month_filter(spec, key) for key in keys]
    recounted = recount_by_partition(
        resource.database,
        spec,
        range_outcome,
        filters,
        duckdb_config=opened_config(resource),
    )
    if recounted is not None:
        return dict(zip(keys, recounted, strict=True))
    failed = {e.index for e in range_outcome.expectations if not e.success}
    subset = replace(spec, expectations=tuple(e for e in spec.expectations if e.index in failed))
    return {key: validate(subset, month) for key, month in zip(keys, filters, strict=True)}


def _evaluate_each_partition(
    context: AssetCheckExecutionContext,
    spec: SuiteSpec,
    outcomes: Mapping[str, ValidationOutcome],
) -> None:
    """One evaluation per month of a range run, so that each month shows its own result."""
    for key, outcome in outcomes.items():
        result = outcome_to_check_result(outcome, spec)
        context.op_execution_context.log_event(
            AssetCheckEvaluation(
                asset_key=AssetKey(list(spec.asset_key)),
                check_name=spec.check_name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                partition=key,
            )
        )


def _make_check(
    spec: SuiteSpec,
    partitions_def: PartitionsDefinition | None,
    data_docs: bool,
    resource_key: str,
) -> AssetChecksDefinition:
    description = spec.description or f"GX suite {spec.path.name} on {spec.qualified_table}"
    partitioned = partitions_def is not None and spec.partition_column is not None

    @asset_check(
        asset=AssetKey(list(spec.asset_key)),
        name=spec.check_name,
        description=description,
        blocking=spec.blocking,
        required_resource_keys={resource_key},
        partitions_def=partitions_def if partitioned else None,
        compute_kind="great_expectations",
        metadata={
            "suite_file": str(spec.path),
            "table": spec.qualified_table,
            "severity": spec.severity,
            "expectations": len(spec.expectations),
        },
    )
    def _gx_check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        resource = getattr(context.resources, resource_key)
        settings = load_settings()
        docs_wanted = data_docs and settings.data_docs != "never"

        def validate(suite: SuiteSpec, partition: PartitionFilter | None) -> ValidationOutcome:
            outcome = validate_table(
                resource.database,
                suite,
                partition=partition,
                duckdb_config=opened_config(resource),
                data_docs_dir=settings.data_docs_dir if docs_wanted else None,
                data_docs_on_failure_only=settings.data_docs == "failures",
            )
            for line in outcome.errors:
                context.log.error(line)
            return outcome

        if partitioned:
            outcome = validate(spec, _partition_filter(context, spec))
            if context.has_partition_key_range and len(context.partition_keys) > 1:
                per_month = _outcomes_per_partition(context, spec, outcome, resource, validate)
                _evaluate_each_partition(context, spec, per_month)
        else:
            outcome = validate(spec, _dbt_window_filter(context, spec, resource))
        return outcome_to_check_result(outcome, spec)

    return _gx_check


def build_gx_asset_checks(
    suites: str | Path | Iterable[str | Path] | Iterable[SuiteSpec],
    *,
    partitions_defs: Mapping[Any, PartitionsDefinition] | None = None,
    data_docs: bool = True,
    resource_key: str = DUCKDB_RESOURCE_KEY,
) -> list[AssetChecksDefinition]:
    """One asset check per suite file (a folder is searched recursively, `_*` folders skipped).

    partitions_defs: asset key (AssetKey, "a/b" or ["a","b"]) -> the asset's PartitionsDefinition,
    for suites with a `partition_column`. data_docs: build Data Docs pages into
    settings.data_docs_dir as WAREHOUSE_DATA_DOCS says (read when the check runs; default: for
    checks that failed or could not run).
    GX is not imported here: loading definitions stays fast.
    """
    pdefs: dict[AssetKey, PartitionsDefinition] = {}
    for key, pdef in (partitions_defs or {}).items():
        if isinstance(key, str):
            key = AssetKey.from_user_string(key)
        pdefs[AssetKey.from_coercible(key)] = pdef
    checks = []
    loaded = list(suites) if not isinstance(suites, (str, Path)) else None
    if loaded is None or not all(isinstance(s, SuiteSpec) for s in loaded):
        loaded = load_suites(suites if loaded is None else loaded)
    for spec in loaded:
        pdef = pdefs.get(AssetKey(list(spec.asset_key)))
        checks.append(_make_check(spec, pdef, data_docs, resource_key))
    return checks
