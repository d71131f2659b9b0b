"""Expectation suites as reviewed YAML files (expectations/<layer>/<table>.yml) -> GX 1.x suites.

Parsing and structural validation (`load_suite`, `load_suites`) need no GX import, so Dagster
can build its asset checks at code-location load without paying ~3 s for `import
great_expectations`. `SuiteSpec.to_gx_suite()` then builds the GX `ExpectationSuite`, which
also validates each expectation's type name and kwargs against GX's own models; errors name
the file and the expectation's index. `validate_suites_dir()` does both for a whole folder
(run it in CI / tests).

Format (see expectations/README.md):

    asset: [raw, online_order_lines]      # Dagster asset key the check is attached to
    table: raw.online_order_lines         # schema.table in the warehouse DuckDB file
    severity: error                       # error | warn  (default severity of a failure)
    blocking: true                        # optional; default true for error, false for warn
    partition_column: order_date          # optional; a partitioned run validates its rows only
    partition_expression: cast(timezone('Asia/Shanghai', created_at) as date)
                                          # optional; the partition's date when no column holds
                                          # it as is (filtered on, plus partition_column, a date
                                          # or timestamp, within a day of the window)
    partition_grain: month                # optional (day | month, default day): month widens
                                          # the window to the whole months it touches
    name: raw_online_order_lines          # optional check name; default gx_<schema>_<table>
    description: Order lines as delivered by the shop back-ends.
    expectations:
      - type: expect_column_values_to_not_be_null
        kwargs: {column: order_id}
        description: Every line belongs to an order; null keys break the order grain.
        severity: warn                    # optional per-expectation override

In an SQL expectation, `{batch}` is the validated table (or partition) and `{window:<column>}`
(`{window_months:<column>}`) the partition's window on another table's column (`with_window`).
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

SEVERITIES = ("error", "warn")
SUITE_KEYS = {
    "asset",
    "table",
    "severity",
    "blocking",
    "partition_column",
    "partition_expression",
    "partition_grain",
    "name",
    "description",
    "expectations",
}
EXPECTATION_KEYS = {"type", "kwargs", "description", "severity", "meta"}
# Handled by the runner (partition filter, result format), not settable per expectation.
RESERVED_KWARGS = {"batch_id", "result_format", "catch_exceptions"}
GRAINS = ("day", "month")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `{window:<column or expression>}` in an SQL expectation: the run's partition window on that
# column; `{window_months:<column>}`: the whole months the window touches (both `true` when the
# whole table is validated). Literal braces are doubled, as GX wants.
WINDOW_PLACEHOLDER = re.compile(r"(?<!\{)\{window(_months)?:([^{}]+)\}(?!\})")
_CHECK_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class SuiteError(ValueError):
    """A suite file is invalid. The message names the file (and expectation index)."""


@dataclass(frozen=True)
class ExpectationSpec:
    index: int
    type: str
    kwargs: Mapping[str, Any]
    severity: str  # effective severity: the override, else the suite's
    description: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        col = self.kwargs.get("column")
        if col is not None:
            return str(col)
        for key in ("column_A", "column_list"):
            if key in self.kwargs:
                val = self.kwargs[key]
                return ",".join(map(str, val)) if isinstance(val, list) else str(val)
        return None


@dataclass(frozen=True)
class SuiteSpec:
    path: Path
    asset_key: tuple[str, ...]
    schema: str
    table: str
    severity: str
    blocking: bool
    expectations: tuple[ExpectationSpec, ...]
    partition_column: str | None = None
    partition_expression: str | None = None  # SQL; the partition's date computed from columns
    partition_grain: str = "day"  # day | month (the window widened to whole months)
    name: str = ""
    description: str | None = None

    @property
    def qualified_table(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def check_name(self) -> str:
        return self.name or f"gx_{self.schema}_{self.table}"

    @property
    def gx_suite_name(self) -> str:
        return f"{self.schema}.{self.table}"

    def with_window(self, condition: Callable[[str, str], str] | None) -> SuiteSpec:
        """This suite with every `{window:<column>}` (`{window_months:<column>}`) of its SQL
        replaced by `condition(column, "day")` (`"month"`): the run's partition window on that
        column; by `(true)` without a partition."""

        def placeholder(m: re.Match) -> str:
            if condition is None:
                return "(true)"
            return condition(m.group(2).strip(), "month" if m.group(1) else "day")

        def render(value: Any) -> Any:
            return WINDOW_PLACEHOLDER.sub(placeholder, value) if isinstance(value, str) else value

        return replace(
            self,
            expectations=tuple(
                replace(e, kwargs={k: render(v) for k, v in e.kwargs.items()})
                for e in self.expectations
            ),
        )

    def to_gx_suite(self):
        """The GX 1.x ExpectationSuite (imports GX). Raises SuiteError naming file and index."""
        import great_expectations as gx
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )
        from great_expectations.expectations.metadata_types import FailureSeverity

        from orchestration.quality.gx_expectations import REPLACEMENTS

        expectations = []
        for exp in self.expectations:
            meta = dict(exp.meta)
            meta["warehouse_index"] = exp.index
            meta["warehouse_severity"] = exp.severity
            if exp.description:
                meta["why"] = exp.description
            kwargs = dict(exp.kwargs)
            try:
                replacement = REPLACEMENTS.get(exp.type)
                config = ExpectationConfiguration(
                    # e.g. unexpected_rows_expectation computed once (gx_expectations)
                    type=replacement.expectation_type if replacement else exp.type,
                    kwargs=kwargs,
                    meta=meta,
                    notes=exp.description,
                    severity=(
                        FailureSeverity.CRITICAL
                        if exp.severity == "error"
                        else FailureSeverity.WARNING
                    ),
                )
                # GX prints (not logs) a reminder for SQL that does not read {batch}
                with contextlib.redirect_stdout(io.StringIO()):
                    expectations.append(config.to_domain_obj())
            except Exception as e:
                raise SuiteError(
                    f"{self.path}: expectation #{exp.index} ({exp.type}): "
                    f"GX rejects it: {_one_line(e)}"
                ) from e
        return gx.ExpectationSuite(
            name=self.gx_suite_name,
            expectations=expectations,
            meta={"asset_key": list(self.asset_key), "source_file": str(self.path)},
        )


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:500]}"


def _fail(path: Path, msg: str) -> SuiteError:
    return SuiteError(f"{path}: {msg}")


def parse_suite(data: Any, path: Path) -> SuiteSpec:
    """Validate the structure of one suite document (already loaded from YAML)."""
    if not isinstance(data, Mapping):
        raise _fail(path, "a suite file must be a mapping (asset, table, severity, expectations)")
    unknown = set(data) - SUITE_KEYS
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}")
    for key in ("asset", "table", "severity", "expectations"):
        if key not in data:
            raise _fail(path, f"missing required key '{key}'")

    asset = data["asset"]
    if isinstance(asset, str):
        asset = asset.split("/")
    if (
        not isinstance(asset, Sequence)
        or not asset
        or not all(isinstance(p, str) and p for p in asset)
    ):
        raise _fail(path, f"'asset' must be a non-empty list of strings, got {data['asset']!r}")

    table = data["table"]
    parts = table.split(".") if isinstance(table, str) else []
    if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
        raise _fail(path, f"'table' must be 'schema.table' (plain identifiers), got {table!r}")

    severity = data["severity"]
    if severity not in SEVERITIES:
        raise _fail(path, f"'severity' must be one of {SEVERITIES}, got {severity!r}")
    blocking = data.get("blocking", severity == "error")
    if not isinstance(blocking, bool):
        raise _fail(path, f"'blocking' must be true or false, got {blocking!r}")

    partition_column = data.get("partition_column")
    partition_expression = data.get("partition_expression")
    if partition_column is not None and not (
        isinstance(partition_column, str)
        and (partition_column.isidentifier() or partition_expression is not None)
    ):  # Unicode letters allowed: the POS columns keep their Chinese headers (销售日期)
        raise _fail(path, f"'partition_column' must be a column name, got {partition_column!r}")
    if partition_expression is not None and not (
        isinstance(partition_expression, str)
        and partition_expression.strip()
        and partition_column is not None
    ):
        raise _fail(
            path,
            "'partition_expression' must be SQL text, with the 'partition_column' "
            "it is computed from",
        )

    partition_grain = data.get("partition_grain", "day")
    if partition_grain not in GRAINS or (partition_grain != "day" and partition_column is None):
        raise _fail(
            path,
            f"'partition_grain' must be one of {GRAINS} (with a "
            f"'partition_column'), got {partition_grain!r}",
        )

    name = data.get("name") or ""
    if name and not (isinstance(name, str) and _CHECK_NAME.match(name)):
        raise _fail(path, f"'name' may use only letters, digits and '_', got {name!r}")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise _fail(path, "'description' must be a string")

    raw_exps = data["expectations"]
    if not isinstance(raw_exps, list) or not raw_exps:
        raise _fail(path, "'expectations' must be a non-empty list")
    exps: list[ExpectationSpec] = []
    for i, item in enumerate(raw_exps):
        where = f"expectation #{i}"
        if not isinstance(item, Mapping):
            raise _fail(path, f"{where}: must be a mapping with 'type' and 'kwargs'")
        etype = item.get("type")
        if not isinstance(etype, str) or not _IDENT.match(etype):
            raise _fail(path, f"{where}: 'type' must be a GX expectation name, got {etype!r}")
        where = f"expectation #{i} ({etype})"
        unknown = set(item) - EXPECTATION_KEYS
        if unknown:
            raise _fail(
                path,
                f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(EXPECTATION_KEYS)}",
            )
        kwargs = item.get("kwargs", {}) or {}
        if not isinstance(kwargs, Mapping):
            raise _fail(path, f"{where}: 'kwargs' must be a mapping")
        reserved = RESERVED_KWARGS & set(kwargs)
        if reserved:
            raise _fail(path, f"{where}: kwargs {sorted(reserved)} are set by the runner")
        exp_sev = item.get("severity", severity)
        if exp_sev not in SEVERITIES:
            raise _fail(path, f"{where}: 'severity' must be one of {SEVERITIES}, got {exp_sev!r}")
        desc = item.get("description")
        if desc is not None and not isinstance(desc, str):
            raise _fail(path, f"{where}: 'description' must be a string")
        meta = item.get("meta", {}) or {}
        if not isinstance(meta, Mapping):
            raise _fail(path, f"{where}: 'meta' must be a mapping")
        if partition_column is None and any(
            isinstance(v, str) and WINDOW_PLACEHOLDER.search(v) for v in kwargs.values()
        ):
            raise _fail(
                path,
                f"{where}: '{{window:...}}' needs the suite's 'partition_column' "
                "(a suite without partitions always validates the whole table)",
            )
        exps.append(
            ExpectationSpec(
                index=i,
                type=etype,
                kwargs=dict(kwargs),
                severity=exp_sev,
                description=desc,
                meta=dict(meta),
            )
        )

    return SuiteSpec(
        path=path,
        asset_key=tuple(asset),
        schema=parts[0],
        table=parts[1],
        severity=severity,
        blocking=blocking,
        expectations=tuple(exps),
        partition_column=partition_column,
        partition_expression=partition_expression,
        partition_grain=partition_grain,
        name=name,
        description=description,
    )


def load_suite(path: str | Path) -> SuiteSpec:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise _fail(path, f"not valid YAML: {_one_line(e)}") from e
    return parse_suite(data, path)


def suite_files(suites_dir: str | Path) -> list[Path]:
    """Suite files under a folder, recursively; folders starting with '_' or '.' are skipped
    (expectations/_examples/ holds documentation examples, not real suites)."""
    root = Path(suites_dir)
    files = []
    for p in sorted(root.rglob("*")):
        if p.suffix not in (".yml", ".yaml") or not p.is_file():
            continue
        rel = p.relative_to(root).parts
        if any(part.startswith(("_", ".")) for part in rel):
            continue
        files.append(p)
    return files


def load_suites(paths: str | Path | Iterable[str | Path]) -> list[SuiteSpec]:
    """Load a folder (recursively) or a list of files; check names are unique per asset."""
    if isinstance(paths, (str, Path)) and Path(paths).is_dir():
        files = suite_files(paths)
    elif isinstance(paths, (str, Path)):
        files = [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    suites = [load_suite(f) for f in files]
    seen: dict[tuple[tuple[str, ...], str], Path] = {}
    for s in suites:
        key = (s.asset_key, s.check_name)
        if key in seen:
            raise _fail(
                s.path,
                f"check name {s.check_name!r} on asset {list(s.asset_key)} is also "
                f"used by {seen[key]}; set 'name' to tell them apart",
            )
        seen[key] = s.path
    return suites


def validate_suites_dir(suites_dir: str | Path) -> list[SuiteSpec]:
    """Parse every suite and build it with GX (type names, kwargs). Raises on the first error."""
    suites = load_suites(suites_dir)
    for s in suites:
        s.to_gx_suite()
    return suites
