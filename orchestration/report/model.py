"""What a section of the review is made of: key figures, charts with their numbers beside
them (tables), and notes. Sections are built from the served marts (sections_*.py) and
rendered to HTML by render.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestration.report.charts import Chart
from orchestration.report.data import Period, Served, Version


@dataclass(frozen=True)
class Review:
    """Everything a section builder needs: the served data, the period and its version."""

    served: Served
    period: Period
    version: Version

    @property
    def year(self) -> int:
        return self.period.year

    @property
    def prior(self) -> int:
        return self.period.year - 1

    def months_params(self) -> list[object]:
        """Parameters of `MONTHS_WHERE`: this year and the prior one over the same months."""
        return [self.year, self.prior, self.period.last_month]


# The months a review compares (this year and the prior one, up to the review's last month).
MONTHS_WHERE = "year(month) IN (?, ?) AND month(month) <= ?"


@dataclass(frozen=True)
class Kpi:
    label_zh: str
    label_en: str
    value: str
    detail: str = ""
    tone: str = ""  # good | bad | "" (colours the value)


@dataclass
class Table:
    caption_zh: str
    caption_en: str
    columns: Sequence[tuple[str, str]]  # (Chinese, English) headers
    rows: list[list[str]]
    numeric: Sequence[bool] = ()  # right-aligned columns
    total_rows: set[int] = field(default_factory=set)  # indexes of rows shown as totals
    table_id: str = ""

    def __post_init__(self) -> None:
        if not self.numeric:
            self.numeric = [False] + [True] * (len(self.columns) - 1)


@dataclass
class Block:
    """A chart with its numbers beside it (either may be missing), and a note."""

    chart: Chart | None = None
    table: Table | None = None
    note_zh: str = ""
    note_en: str = ""
    wide: bool = False  # the table takes the whole width, below the chart


@dataclass
class Section:
    key: str
    title_zh: str
    title_en: str
    kpis: list[Kpi] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    summary_zh: str = ""
    summary_en: str = ""
    number: int = 0


STATUS_LABELS = {
    "met": ("达成", "met"),
    "at_risk": ("风险", "at risk"),
    "missed": ("未达成", "missed"),
}


def status_label(status: object) -> str:
    if not isinstance(status, str) or status not in STATUS_LABELS:
        return "–"
    zh, en = STATUS_LABELS[status]
    return f"{zh} {en}"


def bilingual(zh: object, en: object) -> str:
    """'华东 East China'; one of them alone when the other is missing or the same."""
    zh_text = "" if zh is None else str(zh)
    en_text = "" if en is None else str(en)
    if not zh_text or zh_text == en_text:
        return en_text
    return f"{zh_text} {en_text}" if en_text else zh_text
