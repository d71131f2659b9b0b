"""The review's charts: Vega-Lite specs built with altair, drawn by vl-convert.

vl-convert (a Rust wheel that bundles Vega, Vega-Lite and a JavaScript engine) turns a spec
into SVG or PNG in-process: no browser, no network, no JavaScript in the report. The SVG goes
inline into the HTML page (vector: sharp on screen and in print; its text uses the page's
embedded font); PNGs are the previews in the Dagster UI.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import altair as alt
import pandas as pd

from orchestration.report.cache import cache_key, cached_bytes

VEGA_LITE_VERSION = "6.4"  # altair 6 writes Vega-Lite 6.x specs; vl-convert bundles 6.4
WIDTH = 520
HEIGHT = 240
GROUP_COLORS = {
    "online": "#3567b0",
    "store": "#e07b39",
    "distributor": "#3f9a63",
    "overseas": "#8e5fb3",
}
PALETTE = ["#3567b0", "#e07b39", "#3f9a63", "#8e5fb3", "#c9484a", "#7d8a99", "#d9a62e"]
STATUS_COLORS = {"met": "#3f9a63", "at_risk": "#d9a62e", "missed": "#c9484a"}
THIS_YEAR, PRIOR_YEAR = "#3567b0", "#a9b6c8"
WAN = 1e4  # charts show amounts in 万元 (10,000 CNY), as the review does

CHART_CACHE_KEEP = 400  # drawn charts kept (about 20 a review; a few years' worth of runs)
MONTHS = [f"{m}月" for m in range(1, 13)]  # the month axis: 1月 ... 12月
_ID = re.compile(r'\bid="([^"]+)"')


def config(font_family: str) -> dict:
    """Vega-Lite config shared by every chart (fonts, sizes, quiet grid)."""
    return {
        "font": font_family,
        "view": {"stroke": None},
        "axis": {
            "labelFontSize": 11,
            "titleFontSize": 11,
            "titleFontWeight": "normal",
            "titleColor": "#444",
            "labelColor": "#333",
            "gridColor": "#e6e6e6",
            "domainColor": "#999",
            "tickColor": "#999",
        },
        "legend": {
            "labelFontSize": 11,
            "titleFontSize": 11,
            "titleFontWeight": "normal",
            "orient": "bottom",
            "direction": "horizontal",
        },
        "title": {"fontSize": 13, "anchor": "start", "color": "#222", "subtitleColor": "#666"},
        "header": {"labelFontSize": 11, "titleFontSize": 11},
        "text": {"fontSize": 11},
    }


@dataclass
class Chart:
    """One chart of a section: its spec, an anchor id, and what it is about."""

    chart_id: str
    title_zh: str
    title_en: str
    spec: alt.TopLevelMixin


class ChartRenderer:
    """SVG and PNG from altair charts through vl-convert, with the review's config."""

    def __init__(
        self,
        font_family: str,
        font_directories: Sequence[str] = (),
        cache_dir: Path | None = None,
    ):
        import vl_convert

        for directory in font_directories:
            vl_convert.register_font_directory(str(directory))
        self._vl = vl_convert
        self._config = config(font_family)
        self._ids = itertools.count(1)
        # ~0.2 s a chart in vl-convert: a chart whose spec did not change since an earlier
        # render (a complete year's review, most of the running year's) is read back instead
        self._cache_dir = cache_dir
        self._cache_salt = [
            VEGA_LITE_VERSION,
            getattr(vl_convert, "__version__", ""),
            json.dumps(self._config, sort_keys=True),
            *sorted(str(d) for d in font_directories),
        ]

    def _spec_key(self, chart: Chart) -> tuple[dict, str]:
        spec = spec_of(chart)
        return spec, cache_key([*self._cache_salt, json.dumps(spec, sort_keys=True, default=str)])

    def _drawn_svg(self, chart: Chart) -> str:
        return self._svg_of(*self._spec_key(chart))

    def _svg_of(self, spec: dict, key: str) -> str:
        return cached_bytes(
            self._cache_dir,
            key,
            ".svg",
            CHART_CACHE_KEEP,
            lambda: self._vl.vegalite_to_svg(
                spec, vl_version=VEGA_LITE_VERSION, config=self._config
            ).encode("utf-8"),
        ).decode("utf-8")

    def svg(self, chart: Chart) -> str:
        """Inline SVG. Vega names clip paths and gradients `clip1`, ...: ids are global in an
        HTML page, so each chart's ids get a prefix of their own."""
        svg = self._drawn_svg(chart)
        prefix = f"c{next(self._ids)}-"
        for old in set(_ID.findall(svg)):
            svg = svg.replace(f'id="{old}"', f'id="{prefix}{old}"')
            svg = svg.replace(f"url(#{old})", f"url(#{prefix}{old})")
            svg = svg.replace(f'href="#{old}"', f'href="#{prefix}{old}"')
        label = f"{chart.title_zh} {chart.title_en}".replace('"', "'")
        return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)

    def png(self, chart: Chart, scale: float = 1.0) -> bytes:
        """The chart's drawn SVG rasterised (vl-convert's PNG export draws the SVG first, then
        rasterises it: from the cached SVG, half the time), cached like the SVG."""
        spec, key = self._spec_key(chart)
        return cached_bytes(
            self._cache_dir,
            cache_key([key, f"scale={scale}"]),
            ".png",
            CHART_CACHE_KEEP,
            lambda: self._vl.svg_to_png(self._svg_of(spec, key), scale=scale),
        )


def spec_of(chart: Chart, validate: bool = False) -> dict:
    """The Vega-Lite spec. Altair checks each encoding as it is built; validating the whole
    spec against the schema again costs a quarter of a report's time, so the tests do it
    (tests/test_report.py) and rendering does not."""
    return chart.spec.to_dict(validate=validate)


def title(zh: str, en: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(f"{zh}  {en}", subtitle=subtitle or alt.Undefined)


def color_scale(codes: Sequence[str], colors: dict[str, str] | None = None) -> alt.Scale:
    """A fixed colour per code (a channel group keeps its colour in every chart)."""
    colors = colors or {}
    spare = iter(c for c in PALETTE if c not in colors.values())
    return alt.Scale(domain=list(codes), range=[colors.get(c) or next(spare) for c in codes])


def bullet(
    frame: pd.DataFrame,
    label: str,
    actual: str,
    target: str,
    rate: str,
    order: Sequence[str],
    heading: alt.TitleParams,
    pro_rata: str | None = None,
    colors: alt.Scale | None = None,
) -> alt.LayerChart:
    """Horizontal bars of the actual with a tick at the target and the attainment as text:
    how far each scope is from its target, at a glance."""
    frame = frame.assign(label_at=frame[[actual, target]].max(axis=1))
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{label}:N", sort=list(order), title=None, axis=alt.Axis(labelLimit=220))
    )
    bars = base.mark_bar(height=18).encode(
        x=alt.X(f"{actual}:Q", title="万元 CNY 10k", axis=alt.Axis(format=",.0f")),
        color=alt.Color(f"{label}:N", scale=colors, legend=None)
        if colors
        else alt.value(THIS_YEAR),
    )
    ticks = base.mark_tick(color="#222", thickness=2.5, size=28).encode(x=f"{target}:Q")
    layers = [bars, ticks]
    if pro_rata:
        layers.append(
            base.mark_tick(color="#888", thickness=2, size=28, strokeDash=[3, 2]).encode(
                x=f"{pro_rata}:Q"
            )
        )
    text = base.mark_text(align="left", dx=8, fontWeight="bold").encode(
        x="label_at:Q", text=alt.Text(f"{rate}:Q", format=".1%")
    )
    layers.append(text)
    return alt.layer(*layers, title=heading).properties(
        width=WIDTH - 120, height=max(34 * len(frame), 60)
    )


def grouped_bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    series: str,
    heading: alt.TitleParams,
    category_order: Sequence[str],
    series_order: Sequence[str],
    series_colors: Sequence[str],
    value_title: str,
    value_format: str,
) -> alt.Chart:
    """Bars per category, one per series side by side (this year beside the prior year)."""
    return (
        alt.Chart(frame, title=heading)
        .mark_bar()
        .encode(
            x=alt.X(
                f"{category}:N",
                sort=list(category_order),
                title=None,
                axis=alt.Axis(labelAngle=0, labelLimit=140),
            ),
            xOffset=alt.XOffset(f"{series}:N", sort=list(series_order)),
            y=alt.Y(f"{value}:Q", title=value_title, axis=alt.Axis(format=value_format)),
            color=alt.Color(
                f"{series}:N",
                sort=list(series_order),
                title=None,
                scale=alt.Scale(domain=list(series_order), range=list(series_colors)),
            ),
        )
        .properties(width=WIDTH - 80, height=HEIGHT - 40)
    )


def labelled_bars(
    frame: pd.DataFrame,
    category: str,
    value: str,
    label: str,
    heading: alt.TitleParams,
    order: Sequence[str],
    value_title: str,
    value_format: str = ",.0f",
    colors: alt.Scale | None = None,
    color_field: str | None = None,
    rules: Sequence[float] = (),
) -> alt.LayerChart:
    """Horizontal bars with a text label at their end (the number beside the bar)."""
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{category}:N", sort=list(order), title=None, axis=alt.Axis(labelLimit=240))
    )
    color = (
        alt.Color(f"{color_field or category}:N", scale=colors, legend=None)
        if colors
        else alt.value(THIS_YEAR)
    )
    bars = base.mark_bar(height=16).encode(
        x=alt.X(f"{value}:Q", title=value_title, axis=alt.Axis(format=value_format)),
        color=color,
    )
    text = base.mark_text(align="left", dx=4, color="#222").encode(
        x=f"{value}:Q", text=f"{label}:N"
    )
    layers = [bars, text]
    for at in rules:
        layers.append(
            alt.Chart(pd.DataFrame({"at": [at]}))
            .mark_rule(color="#222", strokeDash=[4, 3])
            .encode(x="at:Q")
        )
    return alt.layer(*layers, title=heading).properties(
        width=WIDTH - 160, height=max(24 * len(frame), 60)
    )


def monthly_stack(
    frame: pd.DataFrame,
    month: str,
    value: str,
    series: str,
    heading: alt.TitleParams,
    series_order: Sequence[str],
    colors: alt.Scale,
    value_title: str,
    normalize: bool = False,
) -> alt.Chart:
    """Monthly stacked bars (absolute, or shares when `normalize`)."""
    return (
        alt.Chart(frame, title=heading)
        .mark_bar()
        .encode(
            x=alt.X(f"{month}:O", sort=MONTHS, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                f"{value}:Q",
                title=value_title,
                stack="normalize" if normalize else True,
                axis=alt.Axis(format=".0%" if normalize else ",.0f"),
            ),
            color=alt.Color(f"{series}:N", sort=list(series_order), title=None, scale=colors),
            order=alt.Order("series_rank:Q"),
        )
        .properties(width=WIDTH, height=HEIGHT)
    )


def monthly_lines(
    frame: pd.DataFrame,
    month: str,
    value: str,
    series: str,
    heading: alt.TitleParams,
    series_order: Sequence[str],
    colors: alt.Scale,
    value_title: str,
    value_format: str,
    zero_rule: bool = False,
) -> alt.LayerChart:
    """Monthly lines with points, one per series (YoY by channel group, stores, ...)."""
    lines = (
        alt.Chart(frame)
        .mark_line(point=True, strokeWidth=2)
        .encode(
            x=alt.X(f"{month}:O", sort=MONTHS, title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                f"{value}:Q",
                title=value_title,
                axis=alt.Axis(format=value_format),
                scale=alt.Scale(zero=False),
            ),
            color=alt.Color(f"{series}:N", sort=list(series_order), title=None, scale=colors),
        )
    )
    layers: list = [lines]
    if zero_rule:
        layers.insert(
            0, alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#999").encode(y="y:Q")
        )
    return alt.layer(*layers, title=heading).properties(width=WIDTH, height=HEIGHT)


def heatmap(
    frame: pd.DataFrame,
    row: str,
    column: str,
    value: str,
    label: str,
    heading: alt.TitleParams,
    row_order: Sequence[str],
    column_order: Sequence[str],
    legend_title: str,
) -> alt.LayerChart:
    """Rates in a row x column grid, coloured, with their label in each cell."""
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{row}:N", sort=list(row_order), title=None),
        # "一线城市 Tier 1" on two lines: Chinese above English
        x=alt.X(
            f"{column}:N",
            sort=list(column_order),
            title=None,
            axis=alt.Axis(
                labelAngle=0, orient="top", labelExpr="split(datum.label, ' ')", labelLineHeight=13
            ),
        ),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            f"{value}:Q",
            title=legend_title,
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            legend=alt.Legend(format=".0%", orient="right", direction="vertical"),
        )
    )
    text = base.mark_text(fontSize=11).encode(
        text=f"{label}:N",
        color=alt.condition(f"datum.{value} > 0.55", alt.value("white"), alt.value("#222")),
    )
    return alt.layer(cells, text, title=heading).properties(
        width=WIDTH - 40, height=30 * len(row_order)
    )


def cumulative_share(
    frame: pd.DataFrame, rank: str, share: str, heading: alt.TitleParams, mark_at: int
) -> alt.LayerChart:
    """The concentration curve: cumulative share of the largest n, with a rule at n."""
    line = (
        alt.Chart(frame)
        .mark_area(line={"color": THIS_YEAR}, color="#dbe5f3", interpolate="step-after")
        .encode(
            x=alt.X(f"{rank}:Q", title="经销商排名 Distributor rank"),
            y=alt.Y(
                f"{share}:Q",
                title="累计占比 Cumulative share",
                axis=alt.Axis(format=".0%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
        )
    )
    marker = frame[frame[rank] == mark_at]
    rule = alt.Chart(marker).mark_rule(color="#c9484a", strokeDash=[4, 3]).encode(x=f"{rank}:Q")
    point = (
        alt.Chart(marker)
        .mark_text(align="left", dx=6, dy=-8, color="#c9484a", fontWeight="bold")
        .encode(x=f"{rank}:Q", y=f"{share}:Q", text=alt.Text(f"{share}:Q", format=".1%"))
    )
    return alt.layer(line, rule, point, title=heading).properties(width=WIDTH, height=HEIGHT)
