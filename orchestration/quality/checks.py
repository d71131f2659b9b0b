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
- Partitioned assets: pass the asset's PartitionsDefinition in `partitions_defs`; a suite with
  `partition_column` then validates only the rows of the run's partition (or partition range).
"""

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    asset_check,
)

from orchestration.quality.runner import PartitionFilter, ValidationOutcome, validate_table
from orchestration.quality.suites import SuiteSpec, load_suites
from orchestration.settings import load_settings

DUCKDB_RESOURCE_KEY = "duckdb"


def resource_duckdb_config(resource: Any) -> dict[str, Any]:
    """The config DuckDBResource.get_connection() really opens the file with (it adds a
    user agent). GX must use the same, or DuckDB refuses a second connection in-process."""
    import duckdb

    config = dict(getattr(resource, "connection_config", None) or {})
    if int(duckdb.__version__.split(".")[0]) >= 1:
        config = {"custom_user_agent": "dagster", **config}
    return config


def _partition_filter(
    context: AssetCheckExecutionContext, spec: SuiteSpec
) -> PartitionFilter | None:
    if spec.partition_column is None or not (
        context.has_partition_key or context.has_partition_key_range
    ):
        return None
    col, expression = spec.partition_column, spec.partition_expression
    grain = spec.partition_grain
    try:
        window = context.partition_time_window
    except Exception:
        window = None
    if window is not None:
        return PartitionFilter(
            col,
            start=_as_sql_time(window.start),
            end=_as_sql_time(window.end),
            expression=expression,
            grain=grain,
        )
    keys = list(context.partition_keys)
    if len(keys) == 1:
        return PartitionFilter(col, value=keys[0], expression=expression, grain=grain)
    return PartitionFilter(col, values=tuple(keys), expression=expression, grain=grain)


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
        "suite_severity": MetadataValue.text(spec.severity),
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


def _make_check(
    spec: SuiteSpec,
    partitions_def: PartitionsDefinition | None,
    data_docs: bool,
    resource_key: str,
) -> AssetChecksDefinition:
    description = spec.description or f"GX suite {spec.path.name} on {spec.qualified_table}"

    @asset_check(
        asset=AssetKey(list(spec.asset_key)),
        name=spec.check_name,
        description=description,
        blocking=spec.blocking,
        required_resource_keys={resource_key},
        partitions_def=partitions_def if spec.partition_column else None,
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
        partition = _partition_filter(context, spec)
        outcome = validate_table(
            resource.database,
            spec,
            partition=partition,
            duckdb_config=resource_duckdb_config(resource),
            data_docs_dir=settings.data_docs_dir if docs_wanted else None,
            data_docs_on_failure_only=settings.data_docs == "failures",
        )
        for line in outcome.errors:
            context.log.error(line)
        return outcome_to_check_result(outcome, spec)

    return _gx_check


def build_gx_asset_checks(
    suites: str | Path | Iterable[str | Path],
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
    for spec in load_suites(suites):
        pdef = pdefs.get(AssetKey(list(spec.asset_key)))
        checks.append(_make_check(spec, pdef, data_docs, resource_key))
    return checks
