"""Sections 5-8 of the review: regional coverage, distributor concentration, product lines
and series, overseas."""

from __future__ import annotations

import pandas as pd

from orchestration.report import charts as ch
from orchestration.report import fmt
from orchestration.report.charts import WAN, Chart
from orchestration.report.data import REGION_ORDER, TIER_NAME_EN, TIER_ORDER, ordered
from orchestration.report.model import (
    MONTHS_WHERE,
    Block,
    Kpi,
    Review,
    Section,
    Table,
    bilingual,
    status_label,
)
from orchestration.report.sections_sales import PRIOR, THIS, month_label

alt = ch.alt


def _region_names_en(review: Review) -> dict[str, str]:
    frame = review.served.frame(
        "SELECT DISTINCT region, region_name_en FROM marts.dim_geography "
        "WHERE region_name_en IS NOT NULL"
    )
    return dict(zip(frame.region, frame.region_name_en, strict=True))


def _overseas_regions(review: Review) -> list[str]:
    frame = review.served.frame(
        "SELECT DISTINCT region FROM marts.dim_geography WHERE geography_level = 'country'"
    )
    return sorted(frame.region)


def _region_targets(review: Review) -> pd.DataFrame:
    """Each region's net-sales target row of the year (all channels, products, series)."""
    return review.served.frame(
        "SELECT region, target, actual, attainment_rate, yoy_growth_rate, status "
        "FROM marts.target_attainment WHERE period_type = 'year' AND period_start = ? "
        "AND channel_group = 'all' AND product_line = 'all' AND series = 'all'",
        [review.period.start],
    ).set_index("region")


def regional_coverage(review: Review) -> Section:
    """5. 区域覆盖: coverage and blank rates by region x city tier; distributors vs target."""
    coverage = review.served.frame(
        "SELECT region, region_name_zh, city_tier, city_tier_name_zh, cities_total, "
        "cities_covered, coverage_rate, blank_rate, active_stores, active_distributors, "
        "distributor_target, net_sales FROM marts.regional_coverage "
        "WHERE period_type = 'year' AND period_start = ?",
        [review.period.start],
    )
    names_en = _region_names_en(review)
    targets = _region_targets(review)
    mainland = coverage[(coverage.cities_total > 0) & (coverage.region != "all")]
    regions = ordered(list(mainland.region.unique()), REGION_ORDER)
    label = {
        r: bilingual(mainland[mainland.region == r].region_name_zh.iloc[0], names_en.get(r, r))
        for r in regions
    }
    cells = mainland[mainland.city_tier != "all"].copy()
    tiers = ordered(list(cells.city_tier.unique()), TIER_ORDER)
    tier_label = {
        t: bilingual(
            cells[cells.city_tier == t].city_tier_name_zh.iloc[0], TIER_NAME_EN.get(t, f"Tier {t}")
        )
        for t in tiers
    }
    cells["region_label"] = cells.region.map(label)
    cells["tier_label"] = cells.city_tier.map(tier_label)
    cells["text"] = [
        f"{fmt.pct(r.coverage_rate, 0)} ({r.cities_covered}/{r.cities_total})"
        for r in cells.itertuples()
    ]
    heat = Chart(
        "chart-coverage",
        "区域 × 城市等级覆盖率",
        "Coverage by region and city tier",
        ch.heatmap(
            cells,
            "region_label",
            "tier_label",
            "coverage_rate",
            "text",
            ch.title(
                "区域 × 城市等级覆盖率",
                "Coverage rate by region and city tier",
                "覆盖：有活跃门店或经销商的城市 / 全部城市（括号内）  Covered cities / all cities",
            ),
            [label[r] for r in regions],
            [tier_label[t] for t in tiers],
            "覆盖率 Coverage",
        ),
    )
    totals = coverage[coverage.city_tier == "all"].set_index("region")
    tier23 = (
        mainland[mainland.city_tier.isin(["2", "3"])]
        .groupby("region")[["cities_covered", "cities_total"]]
        .sum()
    )
    rows = []
    for region in [*regions, "all"]:
        row = totals.loc[region]
        blank23 = (
            (1 - fmt.ratio(*tier23.loc[region]) if region in tier23.index else None)
            if region != "all"
            else 1 - fmt.ratio(*tier23.sum())
        )
        target = targets.loc[region] if region in targets.index else None
        rows.append(
            [
                label.get(region, "全国 All regions"),
                fmt.count(row.cities_total),
                fmt.count(row.cities_covered),
                fmt.pct(row.coverage_rate),
                fmt.pct(row.blank_rate),
                fmt.pct(blank23),
                fmt.count(row.active_stores),
                f"{fmt.count(row.active_distributors)} / {fmt.count(row.distributor_target)}",
                fmt.cny(row.net_sales),
                fmt.pct(None if target is None else target.yoy_growth_rate, signed=True),
                fmt.pct(None if target is None else target.attainment_rate),
            ]
        )
    table = Table(
        "区域覆盖与经销商",
        "Coverage, stores and distributors by region",
        [
            ("区域", "Region"),
            ("城市数", "Cities"),
            ("覆盖城市", "Covered"),
            ("覆盖率", "Coverage"),
            ("空白率", "Blank rate"),
            ("二三线空白率", "Tier 2–3 blank"),
            ("活跃门店", "Stores"),
            ("经销商/目标", "Distributors / target"),
            ("净销售额", "Net sales (CNY)"),
            ("同比", "YoY"),
            ("达成率", "Attainment"),
        ],
        rows,
        total_rows={len(rows) - 1},
        table_id="coverage-table",
    )
    dist = totals.loc[[r for r in regions if r in totals.index]].reset_index()
    dist = dist[dist.distributor_target.notna()]
    dist_frame = pd.DataFrame(
        {
            "label": dist.region.map(label),
            "actual": dist.active_distributors.astype(float),
            "target": dist.distributor_target.astype(float),
            "rate": dist.active_distributors / dist.distributor_target,
        }
    )
    blocks = [Block(chart=heat), Block(table=table, wide=True)]
    if not dist_frame.empty:
        chart = ch.bullet(
            dist_frame,
            "label",
            "actual",
            "target",
            "rate",
            list(dist_frame.label),
            ch.title(
                "活跃经销商数 vs 目标", "Active distributors vs target", "竖线：目标  Tick: target"
            ),
        )
        chart.layer[0].encoding.x.title = "经销商数 Distributors"
        chart.layer[0].encoding.x.axis = alt.Axis(format=",.0f")
        blocks.append(
            Block(
                chart=Chart(
                    "chart-distributors-target",
                    "活跃经销商数 vs 目标",
                    "Active distributors vs target",
                    chart,
                ),
            )
        )
    company = totals.loc["all"] if "all" in totals.index else None
    blank23_all = 1 - fmt.ratio(*tier23.sum()) if not tier23.empty else None
    kpis = []
    if company is not None:
        kpis = [
            Kpi(
                "渠道覆盖率",
                "Coverage rate",
                fmt.pct(company.coverage_rate),
                f"{fmt.count(company.cities_covered)} / {fmt.count(company.cities_total)} "
                "城市 cities",
            ),
            Kpi("二三线空白率", "Tier 2–3 blank rate", fmt.pct(blank23_all)),
            Kpi(
                "活跃经销商",
                "Active distributors",
                fmt.count(company.active_distributors),
                f"目标 Target {fmt.count(dist.distributor_target.sum())}" if not dist.empty else "",
            ),
        ]
    widest = max(regions, key=lambda r: totals.loc[r].blank_rate or 0) if regions else None
    return Section(
        "coverage",
        "区域覆盖",
        "Regional coverage",
        kpis=kpis,
        blocks=blocks,
        summary_zh="覆盖率按全部城市计算（含无销售的城市）；空白率 = 1 − 覆盖率。"
        + (f"空白率最高的区域：{label[widest].split(' ')[0]}。" if widest else ""),
        summary_en="Coverage is measured against every city, with or without sales; blank "
        "rate = 1 − coverage."
        + (f" Widest gap: {names_en.get(widest, widest)}." if widest else ""),
    )


def distributors(review: Review) -> Section:
    """6. 经销商集中度: the top 10 distributors and their share of distributor gross sales."""
    served = review.served
    ranking = served.frame(
        "SELECT distributor_id, distributor_name, region, region_name_zh, distributor_tier, "
        "gross_sales, rebates, net_sales, gross_sales_rank, share_of_distributor_gross_sales, "
        "top10_gross_sales, all_distributors_gross_sales, top10_distributor_share "
        "FROM marts.distributor_ranking WHERE year_start = ? ORDER BY gross_sales_rank",
        [review.period.start],
    )
    if ranking.empty:
        return Section(
            "distributors",
            "经销商集中度",
            "Distributor concentration",
            blocks=[Block(note_zh="本期没有经销商销售。", note_en="No distributor sales.")],
        )
    prior_share = served.value(
        "SELECT max(top10_distributor_share) FROM marts.distributor_ranking WHERE year_start = ?",
        [pd.Timestamp(review.prior, 1, 1).date()],
    )
    names_en = _region_names_en(review)
    ranking["cumulative"] = ranking.gross_sales.cumsum() / ranking.all_distributors_gross_sales
    top = ranking.head(10).copy()
    top["label"] = [f"{r.gross_sales_rank}. {r.distributor_name}" for r in top.itertuples()]
    top["wan"] = top.gross_sales / WAN
    top["text"] = [
        f"{fmt.pct(r.share_of_distributor_gross_sales)} · {fmt.wan(r.gross_sales)}"
        for r in top.itertuples()
    ]
    bars = Chart(
        "chart-top10",
        "TOP10 经销商毛销售额",
        "Top-10 distributors by gross sales",
        ch.labelled_bars(
            top,
            "label",
            "wan",
            "text",
            ch.title("TOP10 经销商毛销售额", "Top-10 distributors by gross sales"),
            list(top.label),
            "毛销售额（万元）Gross sales (CNY 10k)",
        ),
    )
    curve_frame = pd.concat(
        [
            pd.DataFrame({"rank": [0], "cumulative": [0.0]}),
            ranking[["gross_sales_rank", "cumulative"]].rename(
                columns={"gross_sales_rank": "rank"}
            ),
        ]
    )
    curve = Chart(
        "chart-concentration",
        "经销商集中度曲线",
        "Distributor concentration curve",
        ch.cumulative_share(
            curve_frame,
            "rank",
            "cumulative",
            ch.title(
                "经销商集中度曲线",
                "Cumulative share of distributor gross sales",
                "前 n 名经销商占经销商毛销售额  Share of the n largest distributors",
            ),
            mark_at=min(10, len(ranking)),
        ),
    )
    rows = [
        [
            str(r.gross_sales_rank),
            r.distributor_name,
            bilingual(r.region_name_zh, names_en.get(r.region, r.region)),
            str(r.distributor_tier),
            fmt.cny(r.gross_sales),
            fmt.pct(r.share_of_distributor_gross_sales),
            fmt.pct(r.cumulative),
            fmt.cny(r.rebates),
        ]
        for r in top.itertuples()
    ]
    first = ranking.iloc[0]
    rows.append(
        [
            "",
            "TOP10 合计 Top-10 total",
            "",
            "",
            fmt.cny(first.top10_gross_sales),
            fmt.pct(first.top10_distributor_share),
            "",
            fmt.cny(top.rebates.sum()),
        ]
    )
    rows.append(
        [
            "",
            f"全部 {len(ranking)} 家 All distributors",
            "",
            "",
            fmt.cny(first.all_distributors_gross_sales),
            fmt.pct(1.0),
            "",
            fmt.cny(ranking.rebates.sum()),
        ]
    )
    table = Table(
        "TOP10 经销商",
        "Top-10 distributors (CNY)",
        [
            ("排名", "Rank"),
            ("经销商", "Distributor"),
            ("区域", "Region"),
            ("等级", "Tier"),
            ("毛销售额", "Gross sales"),
            ("占比", "Share"),
            ("累计占比", "Cumulative"),
            ("返利", "Rebates"),
        ],
        rows,
        numeric=[True, False, False, True, True, True, True, True],
        total_rows={len(rows) - 2, len(rows) - 1},
        table_id="top10-table",
    )
    return Section(
        "distributors",
        "经销商集中度",
        "Distributor concentration",
        kpis=[
            Kpi(
                "TOP10 经销商贡献率",
                "Top-10 share",
                fmt.pct(first.top10_distributor_share),
                f"上年 Prior {fmt.pct(prior_share)}",
            ),
            Kpi(
                "TOP10 毛销售额",
                "Top-10 gross sales",
                fmt.wan(first.top10_gross_sales) + "元",
                f"CNY {fmt.cny(first.top10_gross_sales)}",
            ),
            Kpi(
                "经销商毛销售额",
                "Distributor gross sales",
                fmt.wan(first.all_distributors_gross_sales) + "元",
                f"{len(ranking)} 家有销售 with sales",
            ),
        ],
        blocks=[Block(chart=bars, table=table, wide=True), Block(chart=curve)],
        summary_zh="TOP10 经销商贡献率 = 毛销售额最大的十家经销商 ÷ 全部经销商毛销售额。",
        summary_en="Top-10 share = gross sales of the ten largest distributors / gross sales "
        "of all distributors.",
    )


def products(review: Review) -> Section:
    """7. 产品线与系列: net sales, share, YoY and attainment by product line and series."""
    served = review.served
    lines = _product_lines(review)
    targets = served.frame(
        "SELECT product_line, product_line_name_zh, series, target, actual, attainment_rate, "
        "yoy_growth_rate, status FROM marts.target_attainment "
        "WHERE period_type = 'year' AND period_start = ? AND region = 'all' "
        "AND channel_group = 'all' AND product_line <> 'all'",
        [review.period.start],
    )
    products_dim = served.frame(
        "SELECT DISTINCT product_line, product_line_name_en, series, series_name "
        "FROM marts.dim_product"
    )
    line_en = {
        "all": "All product lines",
        "unallocated": "Unallocated rebates",
        **dict(zip(products_dim.product_line, products_dim.product_line_name_en, strict=False)),
    }
    series_name = dict(zip(products_dim.series, products_dim.series_name, strict=False))
    line_targets = targets[targets.series == "all"].set_index("product_line")
    rows, share_rows = [], []
    for r in lines.itertuples():
        target = line_targets.loc[r.product_line] if r.product_line in line_targets.index else None
        label = bilingual(r.product_line_name_zh, line_en.get(r.product_line, r.product_line))
        rows.append(
            [
                label,
                fmt.cny(r.net_sales),
                fmt.pct(r.share_of_total),
                fmt.pct(r.yoy_growth_rate, signed=True),
                fmt.pct(r.gross_margin_rate),
                fmt.cny(None if target is None else target.target),
                fmt.pct(None if target is None else target.attainment_rate),
                status_label(None if target is None else target.status),
            ]
        )
        if r.product_line not in ("all", "unallocated"):
            share_rows.append(
                {
                    "label": label,
                    "share": r.share_of_total,
                    "text": f"{fmt.pct(r.share_of_total)} · 同比 YoY "
                    f"{fmt.pct(r.yoy_growth_rate, signed=True)}",
                }
            )
    line_table = Table(
        "产品线",
        "Product lines (net sales, CNY)",
        [
            ("产品线", "Product line"),
            ("净销售额", "Net sales"),
            ("占比", "Share"),
            ("同比", "YoY"),
            ("毛利率", "GM rate"),
            ("目标", "Target"),
            ("达成率", "Attainment"),
            ("状态", "Status"),
        ],
        rows,
        numeric=[False, True, True, True, True, True, True, False],
        total_rows={i for i, r in enumerate(lines.itertuples()) if r.product_line == "all"},
        table_id="product-lines-table",
    )
    share_chart = Chart(
        "chart-product-share",
        "产品线净销售额占比",
        "Product lines' share of net sales",
        ch.labelled_bars(
            pd.DataFrame(share_rows),
            "label",
            "share",
            "text",
            ch.title("产品线净销售额占比", "Product lines' share of net sales"),
            [r["label"] for r in share_rows],
            "占比 Share",
            ".0%",
        ),
    )
    attain = targets.copy()
    attain["label"] = [
        bilingual(series_name.get(r.series, f"{r.series}系列"), f"series {r.series}")
        if r.series != "all"
        else bilingual(r.product_line_name_zh, line_en.get(r.product_line, r.product_line))
        for r in attain.itertuples()
    ]
    attain = attain.sort_values(["series", "product_line"], key=lambda s: s.ne("all"))
    attain["text"] = [
        f"{fmt.pct(r.attainment_rate)} · {fmt.wan(r.actual)} / {fmt.wan(r.target)}"
        for r in attain.itertuples()
    ]
    attain["status_text"] = attain.status.map(status_label)
    blocks = [Block(chart=share_chart, table=line_table, wide=True)]
    if not attain.empty:
        statuses = [status_label(s) for s in ch.STATUS_COLORS]
        chart = ch.labelled_bars(
            attain,
            "label",
            "attainment_rate",
            "text",
            ch.title(
                "产品线与系列目标达成率",
                "Attainment by product line and series",
                "虚线：100%  Dashed: 100% of target",
            ),
            list(attain.label),
            "达成率 Attainment",
            ".0%",
            colors=alt.Scale(domain=statuses, range=list(ch.STATUS_COLORS.values())),
            color_field="status_text",
            rules=[1.0],
        )
        chart.layer[0].encoding.color.legend = alt.Legend(title=None, orient="bottom")
        series_rows = [
            [
                bilingual(series_name.get(r.series, r.series), f"series {r.series}"),
                bilingual(r.product_line_name_zh, line_en.get(r.product_line, r.product_line)),
                fmt.cny(r.target),
                fmt.cny(r.actual),
                fmt.pct(r.attainment_rate),
                status_label(r.status),
                fmt.pct(r.yoy_growth_rate, signed=True),
            ]
            for r in attain[attain.series != "all"].itertuples()
        ]
        series_table = Table(
            "系列目标达成",
            "Series attainment (net sales, CNY)",
            [
                ("系列", "Series"),
                ("产品线", "Product line"),
                ("目标", "Target"),
                ("实际", "Actual"),
                ("达成率", "Attainment"),
                ("状态", "Status"),
                ("同比", "YoY"),
            ],
            series_rows,
            numeric=[False, False, True, True, True, False, True],
            table_id="series-table",
        )
        blocks.append(
            Block(
                chart=Chart(
                    "chart-series", "产品线与系列目标达成率", "Attainment by line and series", chart
                ),
                table=series_table if series_rows else None,
            )
        )
    return Section(
        "products",
        "产品线与系列",
        "Product lines and series",
        blocks=blocks,
        summary_zh="经销商返利分摊到其当月进货的产品；无进货月份的返利列为“未分配”。",
        summary_en="Distributor rebates are allocated to the products of their month's goods "
        "lines; a rebate without goods lines is 'unallocated'.",
    )


def _product_lines(review: Review) -> pd.DataFrame:
    """Product lines of the year: the mart's year rows once the year is complete; for a
    running year the months so far, with YoY against the same months of the prior year."""
    if review.period.complete:
        return review.served.frame(
            "SELECT product_line, product_line_name_zh, net_sales, share_of_total, "
            "yoy_growth_rate, gross_margin_rate FROM marts.product_line_performance "
            "WHERE period_type = 'year' AND period_start = ? "
            "ORDER BY product_line = 'all', net_sales DESC",
            [review.period.start],
        )
    return review.served.frame(
        "WITH m AS (SELECT year(period_start) AS year, product_line, "
        "any_value(product_line_name_zh) AS product_line_name_zh, sum(net_sales) AS net_sales, "
        "sum(gross_margin) AS gross_margin FROM marts.product_line_performance "
        "WHERE period_type = 'month' AND year(period_start) IN (?, ?) "
        "AND month(period_start) <= ? GROUP BY ALL) "
        "SELECT t.product_line, t.product_line_name_zh, t.net_sales, "
        "t.net_sales / (SELECT net_sales FROM m WHERE year = ? AND product_line = 'all') "
        "AS share_of_total, t.net_sales / nullif(p.net_sales, 0) - 1 AS yoy_growth_rate, "
        "t.gross_margin / nullif(t.net_sales, 0) AS gross_margin_rate "
        "FROM m t LEFT JOIN m p ON p.product_line = t.product_line AND p.year = t.year - 1 "
        "WHERE t.year = ? ORDER BY t.product_line = 'all', t.net_sales DESC",
        [*review.months_params(), review.year, review.year],
    )


def overseas(review: Review) -> Section:
    """8. 海外: net sales by country and by platform (the marts give both, not crossed)."""
    served = review.served
    countries = _overseas_regions(review)
    names_en = _region_names_en(review)
    placeholders = ", ".join("?" for _ in countries) or "NULL"
    by_year = served.frame(
        "SELECT year(period_start)::INTEGER AS year, region, region_name_zh, net_sales "
        "FROM marts.regional_coverage WHERE period_type = 'year' AND city_tier = 'all' "
        f"AND region IN ({placeholders}) AND year(period_start) <= ? AND net_sales <> 0 "
        "ORDER BY 1, 2",
        [*countries, review.year],
    )
    all_years = served.frame(
        "SELECT year(period_start)::INTEGER AS year, region, region_name_zh, net_sales "
        "FROM marts.regional_coverage WHERE period_type = 'year' AND city_tier = 'all' "
        f"AND region IN ({placeholders}) AND net_sales <> 0 ORDER BY 1, 2",
        countries,
    )
    platforms = served.frame(
        "SELECT year(month)::INTEGER AS year, month(month)::INTEGER AS m, channel, "
        "any_value(channel_name_zh) AS name_zh, sum(gross_sales) AS gross_sales, "
        "sum(net_sales) AS net_sales, sum(gross_margin) AS gross_margin, sum(orders) AS orders "
        f"FROM marts.channel_performance WHERE channel_group = 'overseas' AND {MONTHS_WHERE} "
        "GROUP BY ALL ORDER BY 1, 2, 3",
        review.months_params(),
    )
    targets = _region_targets(review)
    this_countries = by_year[by_year.year == review.year]
    this_platforms = platforms[platforms.year == review.year]
    country_label = {
        r.region: bilingual(r.region_name_zh, names_en.get(r.region, r.region))
        for r in all_years.itertuples()
    }
    blocks: list[Block] = []
    kpis: list[Kpi] = []
    if this_platforms.empty:
        blocks.append(
            Block(
                note_zh=f"{review.year}年没有海外销售。",
                note_en=f"No overseas sales in {review.year}.",
            )
        )
    else:
        blocks += _overseas_year_blocks(review, this_countries, platforms, targets, country_label)
        total = this_platforms.net_sales.sum()
        kpis = [
            Kpi(
                "海外净销售额", "Overseas net sales", fmt.wan(total) + "元", f"CNY {fmt.cny(total)}"
            ),
            Kpi("国家数", "Countries", str(len(this_countries))),
            Kpi(
                "毛利率",
                "Gross margin rate",
                fmt.pct(fmt.ratio(this_platforms.gross_margin.sum(), total)),
            ),
        ]
    if not all_years.empty:
        history = all_years.assign(
            label=all_years.region.map(country_label),
            wan=all_years.net_sales / WAN,
            year_text=all_years.year.astype(str),
        )
        labels = list(dict.fromkeys(history.label))
        chart = (
            alt.Chart(
                history,
                title=ch.title(
                    "海外历年净销售额（按国家）",
                    "Overseas net sales by year and country",
                    "全部已发布年份  Every year in the served data",
                ),
            )
            .mark_bar()
            .encode(
                x=alt.X("year_text:O", title=None, axis=alt.Axis(labelAngle=0)),
                y=alt.Y(
                    "wan:Q",
                    title="净销售额（万元）Net sales (CNY 10k)",
                    axis=alt.Axis(format=",.0f"),
                ),
                color=alt.Color("label:N", title=None, scale=ch.color_scale(labels)),
                xOffset="label:N",
            )
            .properties(width=ch.WIDTH - 120, height=ch.HEIGHT - 40)
        )
        history_rows = [
            [
                str(year),
                *[fmt.cny(group.set_index("region").net_sales.get(c)) for c in country_label],
            ]
            for year, group in all_years.groupby("year")
        ]
        blocks.append(
            Block(
                chart=Chart(
                    "chart-overseas-history",
                    "海外历年净销售额",
                    "Overseas net sales by year",
                    chart,
                ),
                table=Table(
                    "海外历年净销售额",
                    "Overseas net sales by year (CNY)",
                    [
                        ("年份", "Year"),
                        *[tuple(country_label[c].split(" ", 1)) for c in country_label],
                    ],
                    history_rows,
                    table_id="overseas-history-table",
                ),
            )
        )
    else:
        blocks.append(
            Block(note_zh="已发布数据中没有海外销售。", note_en="No overseas sales served.")
        )
    return Section(
        "overseas",
        "海外",
        "Overseas",
        kpis=kpis,
        blocks=blocks,
        summary_zh="海外金额按订单当地营业日的汇率折算为人民币；集市分别给出按国家和按平台"
        "的数据（不交叉）。",
        summary_en="Overseas amounts are converted to CNY at the rate of the order's local "
        "business date; the marts give sales by country and by platform, not crossed.",
    )


def _overseas_year_blocks(
    review: Review,
    countries: pd.DataFrame,
    platforms: pd.DataFrame,
    targets: pd.DataFrame,
    country_label: dict[str, str],
) -> list[Block]:
    blocks = []
    if not countries.empty:
        total = countries.net_sales.sum()
        rows, bars = [], []
        for r in countries.sort_values("net_sales", ascending=False).itertuples():
            target = targets.loc[r.region] if r.region in targets.index else None
            rows.append(
                [
                    country_label[r.region],
                    fmt.cny(r.net_sales),
                    fmt.pct(r.net_sales / total),
                    fmt.cny(None if target is None else target.target),
                    fmt.pct(None if target is None else target.attainment_rate),
                    fmt.pct(None if target is None else target.yoy_growth_rate, signed=True),
                ]
            )
            bars.append(
                {
                    "label": country_label[r.region],
                    "wan": r.net_sales / WAN,
                    "text": f"{fmt.wan(r.net_sales)} · {fmt.pct(r.net_sales / total)}",
                }
            )
        chart = ch.labelled_bars(
            pd.DataFrame(bars),
            "label",
            "wan",
            "text",
            ch.title("海外各国净销售额", "Overseas net sales by country"),
            [b["label"] for b in bars],
            "净销售额（万元）Net sales (CNY 10k)",
        )
        blocks.append(
            Block(
                chart=Chart("chart-overseas-country", "海外各国", "Overseas by country", chart),
                table=Table(
                    "海外各国",
                    "Overseas by country (net sales, CNY)",
                    [
                        ("国家", "Country"),
                        ("净销售额", "Net sales"),
                        ("占比", "Share"),
                        ("目标", "Target"),
                        ("达成率", "Attainment"),
                        ("同比", "YoY"),
                    ],
                    rows,
                    table_id="overseas-country-table",
                ),
            )
        )
    this = platforms[platforms.year == review.year]
    names = {r.channel: bilingual(r.name_zh, r.channel) for r in this.itertuples()}
    yearly = platforms.groupby(["year", "channel"])[
        ["gross_sales", "net_sales", "gross_margin", "orders"]
    ].sum()
    rows = []
    for channel in sorted(names):
        now = yearly.loc[(review.year, channel)]
        prior = (
            yearly.loc[(review.prior, channel)] if (review.prior, channel) in yearly.index else None
        )
        rows.append(
            [
                names[channel],
                fmt.cny(now.gross_sales),
                fmt.cny(now.net_sales),
                fmt.pct(fmt.ratio(now.gross_margin, now.net_sales)),
                fmt.count(now.orders),
                fmt.cny(fmt.ratio(now.net_sales, now.orders)),
                fmt.pct(
                    fmt.growth(now.net_sales, None if prior is None else prior.net_sales),
                    signed=True,
                ),
            ]
        )
    monthly = this.assign(
        label=this.channel.map(names),
        month=this.m.map(month_label),
        wan=this.net_sales / WAN,
        series_rank=this.channel.map({c: i for i, c in enumerate(sorted(names))}),
    )
    chart = ch.monthly_stack(
        monthly,
        "month",
        "wan",
        "label",
        ch.title("海外月度净销售额（按平台）", "Overseas monthly net sales by platform"),
        [names[c] for c in sorted(names)],
        ch.color_scale([names[c] for c in sorted(names)], {}),
        "净销售额（万元）Net sales (CNY 10k)",
    )
    blocks.append(
        Block(
            chart=Chart("chart-overseas-platform", "海外各平台", "Overseas by platform", chart),
            table=Table(
                "海外各平台",
                "Overseas by platform (CNY)",
                [
                    ("平台", "Platform"),
                    ("毛销售额", "Gross sales"),
                    ("净销售额", "Net sales"),
                    ("毛利率", "GM rate"),
                    ("订单数", "Orders"),
                    ("客单价", "Avg order value"),
                    ("同比", "YoY"),
                ],
                rows,
                table_id="overseas-platform-table",
            ),
        )
    )
    return blocks


__all__ = ["PRIOR", "THIS", "distributors", "overseas", "products", "regional_coverage"]
