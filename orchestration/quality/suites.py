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
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

SEVERITIES = ("error", "warn")
# Handled by the runner (partition filter, result format), not settable per expectation.
RESERVED_KWARGS = {"batch_id", "result_format", "catch_exceptions"}
GRAINS = ("day", "month")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `{window:<column or expression>}` in an SQL expectation: the run's partition window on that
# column; `{window_months:<column>}`: the whole months the window touches;
# `{window_and_<N>_days_before:<column>}`: the window from N days before its first day (all
# `true` when the whole table is validated). Literal braces are doubled, as GX wants.
WINDOW_PLACEHOLDER = re.compile(
    r"(?<!\{)\{window(?:(_months)|_and_(\d+)_days_before)?:([^{}]+)\}(?!\})"
)
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

    def with_window(self, condition: Callable[..., str] | None) -> SuiteSpec:
        """This suite with every `{window:<column>}` (`{window_months:<column>}`,
        `{window_and_<N>_days_before:<column>}`) of its SQL replaced by
        `condition(column, "day")` (`"month"`; `"day", N`): the run's partition window on that
        column; by `(true)` without a partition."""

        def placeholder(m: re.Match) -> str:
            if condition is None:
                return "(true)"
            column = m.group(3).strip()
            if m.group(2):
                return condition(column, "day", int(m.group(2)))
            return condition(column, "month" if m.group(1) else "day")

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


# --------------------------------------------------------------------------------------------
# The file's typed model. Pydantic checks the types and keys; the validators below say, in the
# error, what the key must hold. `parse_suite` turns the first error into a SuiteError naming
# the file, the suite (its table) and the key ("expectation #3 (expect_x)" for an expectation).
# --------------------------------------------------------------------------------------------


def _must(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


class _ExpectationDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    kwargs: dict[str, Any] | None = None
    description: str | None = None
    severity: str | None = None
    meta: dict[str, Any] | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _gx_name(cls, value: Any) -> Any:
        _must(
            isinstance(value, str) and bool(_IDENT.match(value)),
            f"'type' must be a GX expectation name, got {value!r}",
        )
        return value

    @field_validator("kwargs", mode="before")
    @classmethod
    def _kwargs(cls, value: Any) -> Any:
        _must(value is None or isinstance(value, Mapping), "'kwargs' must be a mapping")
        reserved = RESERVED_KWARGS & set(value or {})
        _must(not reserved, f"kwargs {sorted(reserved)} are set by the runner")
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        _must(
            value is None or value in SEVERITIES,
            f"'severity' must be one of {SEVERITIES}, got {value!r}",
        )
        return value

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        _must(value is None or isinstance(value, str), "'description' must be a string")
        return value

    @field_validator("meta", mode="before")
    @classmethod
    def _meta(cls, value: Any) -> Any:
        _must(value is None or isinstance(value, Mapping), "'meta' must be a mapping")
        return value


class _SuiteDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asset: tuple[str, ...]
    table: str
    severity: str
    blocking: bool | None = None
    partition_column: str | None = None
    partition_expression: str | None = None
    partition_grain: str = "day"
    name: str | None = None
    description: str | None = None
    expectations: list[Any]

    @field_validator("asset", mode="before")
    @classmethod
    def _asset(cls, value: Any) -> Any:
        parts = value.split("/") if isinstance(value, str) else value
        _must(
            isinstance(parts, Sequence)
            and bool(parts)
            and all(isinstance(p, str) and p for p in parts),
            f"'asset' must be a non-empty list of strings, got {value!r}",
        )
        return tuple(parts)

    @field_validator("table", mode="before")
    @classmethod
    def _table(cls, value: Any) -> Any:
        parts = value.split(".") if isinstance(value, str) else []
        _must(
            len(parts) == 2 and all(_IDENT.match(p) for p in parts),
            f"'table' must be 'schema.table' (plain identifiers), got {value!r}",
        )
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        _must(value in SEVERITIES, f"'severity' must be one of {SEVERITIES}, got {value!r}")
        return value

    @field_validator("blocking", mode="before")
    @classmethod
    def _blocking(cls, value: Any) -> Any:
        _must(
            value is None or isinstance(value, bool),
            f"'blocking' must be true or false, got {value!r}",
        )
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        _must(
            not value or (isinstance(value, str) and bool(_CHECK_NAME.match(value))),
            f"'name' may use only letters, digits and '_', got {value!r}",
        )
        return value or None

    @field_validator("description", mode="before")
    @classmethod
    def _description(cls, value: Any) -> Any:
        _must(value is None or isinstance(value, str), "'description' must be a string")
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _expectations(cls, value: Any) -> Any:
        _must(isinstance(value, list) and bool(value), "'expectations' must be a non-empty list")
        return value

    @model_validator(mode="after")
    def _partitions(self) -> _SuiteDoc:
        column, expression = self.partition_column, self.partition_expression
        # Unicode letters allowed: the POS columns keep their Chinese headers (销售日期)
        _must(
            column is None or column.isidentifier() or expression is not None,
            f"'partition_column' must be a column name, got {column!r}",
        )
        _must(
            expression is None or (bool(expression.strip()) and column is not None),
            "'partition_expression' must be SQL text, with the 'partition_column' "
            "it is computed from",
        )
        _must(
            self.partition_grain in GRAINS
            and (self.partition_grain == "day" or column is not None),
            f"'partition_grain' must be one of {GRAINS} (with a 'partition_column'), "
            f"got {self.partition_grain!r}",
        )
        return self


def _error_text(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    """One pydantic error in the file's words: which key, and what it must hold."""
    key = ".".join(str(part) for part in error["loc"]) or "the suite"
    if error["type"] == "extra_forbidden":
        allowed = sorted(model.model_fields)
        return f"unknown keys [{error['loc'][-1]!r}]; allowed: {allowed}"
    if error["type"] == "missing":
        return f"missing required key '{key}'"
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    return f"'{key}': {error['msg'].lower()}, got {error.get('input')!r}"


def _validated(model: type[BaseModel], data: Any, path: Path, where: str):
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _fail(path, f"{where}{_error_text(error.errors()[0], model)}") from None


def _parse_expectation(item: Any, index: int, suite: _SuiteDoc, path: Path) -> ExpectationSpec:
    if not isinstance(item, Mapping):
        raise _fail(
            path,
            f"suite {suite.table}: expectation #{index}: "
            "must be a mapping with 'type' and 'kwargs'",
        )
    named = f" ({item['type']})" if "type" in item else ""
    where = f"suite {suite.table}: expectation #{index}{named}: "
    doc = _validated(_ExpectationDoc, item, path, where)
    kwargs = dict(doc.kwargs or {})
    if suite.partition_column is None and any(
        isinstance(v, str) and WINDOW_PLACEHOLDER.search(v) for v in kwargs.values()
    ):
        raise _fail(
            path,
            f"{where}'{{window:...}}' needs the suite's 'partition_column' "
            "(a suite without partitions always validates the whole table)",
        )
    return ExpectationSpec(
        index=index,
        type=doc.type,
        kwargs=kwargs,
        severity=doc.severity or suite.severity,
        description=doc.description,
        meta=dict(doc.meta or {}),
    )


def parse_suite(data: Any, path: Path) -> SuiteSpec:
    """Validate one suite document (already loaded from YAML) against the typed model."""
    if not isinstance(data, Mapping):
        raise _fail(path, "a suite file must be a mapping (asset, table, severity, expectations)")
    suite = _validated(_SuiteDoc, data, path, "")
    schema, table = suite.table.split(".")
    expectations = tuple(
        _parse_expectation(item, i, suite, path) for i, item in enumerate(suite.expectations)
    )
    return SuiteSpec(
        path=path,
        asset_key=suite.asset,
        schema=schema,
        table=table,
        severity=suite.severity,
        blocking=suite.severity == "error" if suite.blocking is None else suite.blocking,
        expectations=expectations,
        partition_column=suite.partition_column,
        partition_expression=suite.partition_expression,
        partition_grain=suite.partition_grain,
        name=suite.name or "",
        description=suite.description,
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
