"""What the review reads: the served marts, on one read-only connection (one published
version), and the period a review covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

SCHEMA = "marts"
# Display order of the codes of the marts' contract; codes not listed come after, by name.
GROUP_ORDER = ("online", "store", "distributor", "overseas")
GROUP_NAME_EN = {
    "online": "Online",
    "store": "Stores",
    "distributor": "Distributors",
    "overseas": "Overseas",
    "all": "All channels",
}
REGION_ORDER = ("east", "south", "north", "central", "southwest", "northwest", "northeast")
TIER_ORDER = ("1", "new1", "2", "3", "4", "5")
TIER_NAME_EN = {"1": "Tier 1", "new1": "New tier 1", "2": "Tier 2", "3": "Tier 3"}


class ReviewDataError(RuntimeError):
    """The serving database cannot give the review asked for (no such year, no marts)."""


@dataclass(frozen=True)
class Version:
    """The published version the review reads (marts.publish_info)."""

    publish_id: str
    published_at: datetime
    latest_business_date: date
    git_commit: str
    content_fingerprint: str


@dataclass(frozen=True)
class Period:
    """A review's year: the whole year once complete, else year-to-date at the latest
    business date. The prior year is compared over the same months."""

    year: int
    end: date  # last business date covered (inclusive)
    complete: bool

    @property
    def start(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last_month(self) -> int:
        return self.end.month

    @property
    def label_zh(self) -> str:
        return (
            f"{self.year}年" if self.complete else f"{self.year}年1–{self.end.month}月（年初至今）"
        )

    @property
    def label_en(self) -> str:
        return f"FY{self.year}" if self.complete else f"{self.year} year to date ({self.end})"


class Served:
    """A read-only connection to the serving database and the queries the review runs."""

    def __init__(self, serving_db: Path):
        if not Path(serving_db).exists():
            raise ReviewDataError(f"no serving database at {serving_db}: run the pipeline first")
        self.path = Path(serving_db)
        self.connection = duckdb.connect(str(serving_db), read_only=True)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        """A query's result as a DataFrame (DuckDB turns DECIMAL into float64 there: charts
        want floats, and every figure is rounded for display)."""
        return self.connection.execute(sql, list(params)).df()

    def value(self, sql: str, params: Sequence[object] = ()) -> object:
        row = self.connection.execute(sql, list(params)).fetchone()
        return None if row is None else row[0]

    def has_table(self, name: str) -> bool:
        return bool(
            self.value(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [SCHEMA, name],
            )
        )

    def version(self) -> Version:
        row = self.connection.execute(
            "SELECT publish_id, published_at, latest_business_date, git_commit, "
            f"content_fingerprint FROM {SCHEMA}.publish_info"
        ).fetchone()
        if row is None or row[2] is None:
            raise ReviewDataError(f"{self.path}: marts.publish_info has no latest business date")
        return Version(*row)

    def years(self) -> list[int]:
        """Years with sales in the served marts, oldest first."""
        rows = self.connection.execute(
            f"SELECT DISTINCT year(month) FROM {SCHEMA}.channel_performance ORDER BY 1"
        ).fetchall()
        return [int(r[0]) for r in rows]

    def period(self, year: int) -> Period:
        latest = self.version().latest_business_date
        if year not in self.years() or year > latest.year:
            raise ReviewDataError(
                f"no sales in {year} in {self.path} (years served: "
                f"{', '.join(map(str, self.years())) or 'none'})"
            )
        complete = latest >= date(year, 12, 31)
        return Period(year, date(year, 12, 31) if complete else latest, complete)

    def current_years(self) -> list[int]:
        """The years a publish changes in the normal course: the latest complete year and
        the running one (year to date), when there is one."""
        latest = self.version().latest_business_date
        years = [y for y in self.years() if y <= latest.year]
        running = [y for y in years if date(y, 12, 31) > latest]
        return sorted({self.default_year(), *running})

    def default_year(self) -> int:
        """The latest complete year; the running year (year to date) when none is complete."""
        latest = self.version().latest_business_date
        complete = [y for y in self.years() if date(y, 12, 31) <= latest]
        if complete:
            return complete[-1]
        years = self.years()
        if not years:
            raise ReviewDataError(f"{self.path}: no sales in marts.channel_performance")
        return years[-1]


def ordered(values: Sequence[str], order: Sequence[str]) -> list[str]:
    """`values` in the contract's display order, unknown codes last by name."""
    known = [v for v in order if v in values]
    return known + sorted(v for v in set(values) if v not in order)
