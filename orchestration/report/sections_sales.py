"""Sections 1-4 of the review: headline KPIs against target, channel mix and monthly trend,
online platform shares, store productivity."""

from __future__ import annotations

import pandas as pd

from orchestration.report import charts as ch
from orchestration.report import fmt
from orchestration.report.charts import WAN, Chart
from orchestration.report.data import GROUP_NAME_EN, GROUP_ORDER, ordered
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

THIS, PRIOR = "本年 This year", "上年 Prior year"


def group_label(code: str, name_zh: object = None) -> str:
    names_zh = {
        "online": "线上",
        "store": "线下门店",
        "distributor": "经销商",
        "overseas": "海外",
        "all": "全渠道",
    }
    return bilingual(name_zh or names_zh.get(code, ""), GROUP_NAME_EN.get(code, code))


def month_label(month: int) -> str:
    return f"{month}月"


def _group_months(review: Review) -> pd.DataFrame:
    """Net and gross sales, margin by year x month x channel group (this year, prior year)."""
    return review.served.frame(
        "SELECT year(month)::INTEGER AS year, month(month)::INTEGER AS m, channel_group, "
        "sum(gross_sales) AS gross_sales, sum(net_sales) AS net_sales, "
        "sum(gross_margin) AS gross_margin "
        f"FROM marts.channel_performance WHERE {MONTHS_WHERE} GROUP BY ALL ORDER BY 1, 2, 3",
        review.months_params(),
    )


def headline(review: Review) -> Section:
    """1. 核心指标 vs 目标: net sales, target, attainment, gross margin by channel group."""
    targets = review.served.frame(
        "SELECT channel_group, channel_group_name_zh, target, actual, gap, attainment_rate, "
        "yoy_growth_rate, status, target_pro_rata, pro_rata_attainment_rate "
        "FROM marts.target_attainment WHERE period_type = 'year' AND period_start = ? "
        "AND region = 'all' AND product_line = 'all' AND series = 'all'",
        [review.period.start],
    ).set_index("channel_group")
    months = _group_months(review)
    yearly = months.groupby(["year", "channel_group"], as_index=False)[
        ["gross_sales", "net_sales", "gross_margin"]
    ].sum()
    this = yearly[yearly.year == review.year].set_index("channel_group")
    prior = yearly[yearly.year == review.prior].set_index("channel_group")
    groups = ordered(list(this.index), GROUP_ORDER)

    net, margin = this.net_sales.sum(), this.gross_margin.sum()
    prior_net, prior_margin = prior.net_sales.sum(), prior.gross_margin.sum()
    total = targets.loc["all"] if "all" in targets.index else None
    running = not review.period.complete

    rows, chart_rows = [], []
    for code in [*groups, "all"]:
        is_total = code == "all"
        actual = net if is_total else this.net_sales.get(code)
        gm = margin if is_total else this.gross_margin.get(code)
        prior_gm_rate = fmt.ratio(
            prior_margin if is_total else prior.gross_margin.get(code),
            prior_net if is_total else prior.net_sales.get(code),
        )
        target = targets.loc[code] if code in targets.index else None
        yoy = (
            target.yoy_growth_rate
            if target is not None
            else fmt.growth(actual, prior_net if is_total else prior.net_sales.get(code))
        )
        rows.append(
            [
                group_label(code),
                fmt.cny(actual),
                fmt.cny(None if target is None else target.target),
                fmt.pct(None if target is None else target.attainment_rate),
                status_label(None if target is None else target.status),
                fmt.pct(yoy, signed=True),
                fmt.cny(gm),
                fmt.pct(fmt.ratio(gm, actual)),
                fmt.pct(prior_gm_rate),
            ]
        )
        if target is not None and not is_total:
            chart_rows.append(
                {
                    "label": group_label(code),
                    "code": code,
                    "actual": actual / WAN,
                    "target": target.target / WAN,
                    "pro_rata": target.target_pro_rata / WAN,
                    "rate": target.attainment_rate,
                }
            )
    table = Table(
        "各渠道净销售额、目标与毛利",
        "Net sales, target and gross margin by channel group (CNY)",
        [
            ("渠道", "Channel group"),
            ("净销售额", "Net sales"),
            ("目标", "Target"),
            ("达成率", "Attainment"),
            ("状态", "Status"),
            ("同比", "YoY"),
            ("毛利", "Gross margin"),
            ("毛利率", "GM rate"),
            ("上年毛利率", "Prior GM rate"),
        ],
        rows,
        numeric=[False, True, True, True, False, True, True, True, True],
        total_rows={len(rows) - 1},
        table_id="headline-table",
    )
    bullet_frame = pd.DataFrame(chart_rows)
    blocks = []
    if not bullet_frame.empty:
        colors = ch.color_scale(
            list(bullet_frame.label), {group_label(c): ch.GROUP_COLORS[c] for c in GROUP_ORDER}
        )
        subtitle = (
            "竖线：全年目标；虚线：按已过天数折算的目标  Tick: full-year target; dashed: "
            "target pro rata"
            if running
            else "竖线：全年目标  Tick: full-year target"
        )
        chart = Chart(
            "chart-attainment",
            "各渠道目标达成",
            "Attainment by channel group",
            ch.bullet(
                bullet_frame,
                "label",
                "actual",
                "target",
                "rate",
                list(bullet_frame.label),
                ch.title("各渠道目标达成", "Attainment by channel group", subtitle),
                pro_rata="pro_rata" if running else None,
                colors=colors,
            ),
        )
        blocks.append(Block(chart=chart, table=table, wide=True))
    else:
        blocks.append(
            Block(
                table=table,
                note_zh="本年度没有渠道目标。",
                note_en="Finance set no channel-group target for this year.",
            )
        )
    margin_rows = []
    for code in groups:
        for year_label, frame in ((THIS, this), (PRIOR, prior)):
            if code in frame.index:
                rate = fmt.ratio(frame.gross_margin[code], frame.net_sales[code])
                margin_rows.append({"group": group_label(code), "year": year_label, "rate": rate})
    margin_chart = Chart(
        "chart-margin",
        "各渠道毛利率",
        "Gross margin rate by channel group",
        ch.grouped_bars(
            pd.DataFrame(margin_rows),
            "group",
            "rate",
            "year",
            ch.title("各渠道毛利率", "Gross margin rate by channel group"),
            [group_label(c) for c in groups],
            [THIS, PRIOR],
            [ch.THIS_YEAR, ch.PRIOR_YEAR],
            "毛利率 Gross margin rate",
            ".0%",
        ),
    )
    blocks.append(Block(chart=margin_chart))

    kpis = [
        Kpi("净销售额", "Net sales", fmt.wan(net) + "元", f"CNY {fmt.cny(net)}"),
        Kpi(
            "目标",
            "Target",
            fmt.wan(None if total is None else total.target) + "元",
            "" if total is None else f"差额 Gap {fmt.wan(total.gap)}",
        ),
        Kpi(
            "达成率",
            "Attainment",
            fmt.pct(None if total is None else total.attainment_rate),
            "" if total is None else status_label(total.status),
            tone=_tone(None if total is None else total.status),
        ),
        Kpi(
            "同比增长",
            "YoY growth",
            fmt.pct(
                total.yoy_growth_rate if total is not None else fmt.growth(net, prior_net),
                signed=True,
            ),
            f"上年 Prior {fmt.wan(prior_net)}",
        ),
        Kpi(
            "毛利率",
            "Gross margin rate",
            fmt.pct(fmt.ratio(margin, net)),
            f"毛利 Gross margin {fmt.wan(margin)}",
        ),
    ]
    if running and total is not None:
        kpis.insert(
            3,
            Kpi(
                "按进度达成率",
                "Pro-rata attainment",
                fmt.pct(total.pro_rata_attainment_rate),
                f"折算目标 Pro-rata target {fmt.wan(total.target_pro_rata)}",
            ),
        )
    summary_zh = (
        f"{review.period.label_zh}全渠道净销售额 {fmt.wan(net)}元"
        + (
            f"，目标 {fmt.wan(total.target)}元，达成率 {fmt.pct(total.attainment_rate)}"
            if total is not None
            else ""
        )
        + f"；毛利率 {fmt.pct(fmt.ratio(margin, net))}。"
    )
    summary_en = (
        f"{review.period.label_en}: net sales {fmt.millions(net)}"
        + (
            f" against a target of {fmt.millions(total.target)} "
            f"({fmt.pct(total.attainment_rate)} attained)"
            if total is not None
            else ""
        )
        + f"; gross margin rate {fmt.pct(fmt.ratio(margin, net))}."
    )
    return Section(
        "headline",
        "核心指标与目标达成",
        "Headline KPIs against target",
        kpis,
        blocks,
        summary_zh,
        summary_en,
    )


def _tone(status: object) -> str:
    return {"met": "good", "missed": "bad"}.get(status if isinstance(status, str) else "", "")


def channel_mix(review: Review) -> Section:
    """2. 渠道结构与月度趋势: mix of net sales by channel group, monthly trend and YoY."""
    months = _group_months(review)
    groups = ordered(list(months[months.year == review.year].channel_group.unique()), GROUP_ORDER)
    labels = {code: group_label(code) for code in groups}
    colors = ch.color_scale(
        [labels[c] for c in groups], {labels[c]: ch.GROUP_COLORS.get(c, "") for c in groups}
    )
    months["label"] = months.channel_group.map(labels)
    months["series_rank"] = months.channel_group.map({c: i for i, c in enumerate(groups)})
    months["month"] = months.m.map(month_label)
    this = months[months.year == review.year]
    prior = months[months.year == review.prior]
    has_prior = not prior.empty

    stack = this.assign(net_wan=this.net_sales / WAN)
    trend = Chart(
        "chart-monthly",
        "月度净销售额（按渠道）",
        "Monthly net sales by channel group",
        ch.monthly_stack(
            stack,
            "month",
            "net_wan",
            "label",
            ch.title("月度净销售额（按渠道）", "Monthly net sales by channel group"),
            [labels[c] for c in groups],
            colors,
            "净销售额（万元）Net sales (CNY 10k)",
        ),
    )
    totals = months.groupby(["year", "m"], as_index=False).net_sales.sum()
    this_total = totals[totals.year == review.year].set_index("m").net_sales
    prior_total = totals[totals.year == review.prior].set_index("m").net_sales
    monthly_rows = [
        [
            month_label(m),
            fmt.cny(this_total[m]),
            fmt.cny(prior_total.get(m)),
            fmt.pct(fmt.growth(this_total[m], prior_total.get(m)), signed=True),
        ]
        for m in this_total.index
    ]
    monthly_rows.append(
        [
            "合计 Total",
            fmt.cny(this_total.sum()),
            fmt.cny(prior_total.sum() if has_prior else None),
            fmt.pct(fmt.growth(this_total.sum(), prior_total.sum()), signed=True),
        ]
    )
    monthly_table = Table(
        "月度净销售额与同比",
        "Monthly net sales and YoY (CNY)",
        [("月份", "Month"), ("净销售额", "Net sales"), ("上年同月", "Prior year"), ("同比", "YoY")],
        monthly_rows,
        total_rows={len(monthly_rows) - 1},
        table_id="monthly-table",
    )

    yearly = months.groupby(["year", "channel_group"]).net_sales.sum()
    mix_rows, mix_chart_rows = [], []
    this_sum = this.net_sales.sum()
    prior_sum = prior.net_sales.sum()
    for code in groups:
        now = yearly.get((review.year, code))
        before = yearly.get((review.prior, code))
        mix_rows.append(
            [
                labels[code],
                fmt.cny(now),
                fmt.pct(fmt.ratio(now, this_sum)),
                fmt.cny(before),
                fmt.pct(fmt.ratio(before, prior_sum)),
                fmt.pct(fmt.growth(now, before), signed=True),
            ]
        )
        for year_label, value, total in ((THIS, now, this_sum), (PRIOR, before, prior_sum)):
            if value is not None and total:
                mix_chart_rows.append(
                    {
                        "label": labels[code],
                        "year": year_label,
                        "share": value / total,
                        "series_rank": groups.index(code),
                        "text": fmt.pct(value / total),
                    }
                )
    mix_table = Table(
        "渠道结构",
        "Channel mix (net sales, CNY)",
        [
            ("渠道", "Channel group"),
            ("本年", "This year"),
            ("占比", "Share"),
            ("上年", "Prior year"),
            ("上年占比", "Prior share"),
            ("同比", "YoY"),
        ],
        mix_rows,
        table_id="mix-table",
    )
    mix_frame = pd.DataFrame(mix_chart_rows)
    alt = ch.alt
    mix_base = alt.Chart(mix_frame).encode(
        y=alt.Y("year:N", sort=[THIS, PRIOR], title=None),
        x=alt.X("share:Q", stack="normalize", title=None, axis=alt.Axis(format=".0%")),
        order=alt.Order("series_rank:Q"),
    )
    mix_chart = Chart(
        "chart-mix",
        "渠道结构（净销售额占比）",
        "Channel mix (share of net sales)",
        alt.layer(
            mix_base.mark_bar(height=34).encode(
                color=alt.Color(
                    "label:N", sort=[labels[c] for c in groups], title=None, scale=colors
                )
            ),
            mix_base.mark_text(color="white", dx=-4, align="right", fontWeight="bold").encode(
                text="text:N"
            ),
            title=ch.title("渠道结构（净销售额占比）", "Channel mix (share of net sales)"),
        ).properties(width=ch.WIDTH, height=110),
    )
    blocks = [
        Block(chart=mix_chart, table=mix_table),
        Block(chart=trend, table=monthly_table),
    ]
    if has_prior:
        yoy = months.pivot_table(
            index=["m", "channel_group"], columns="year", values="net_sales", aggfunc="sum"
        ).reset_index()
        yoy["yoy"] = yoy[review.year] / yoy[review.prior] - 1
        yoy = yoy.dropna(subset=["yoy"])
        total_yoy = pd.DataFrame(
            {"m": this_total.index, "yoy": this_total / prior_total.reindex(this_total.index) - 1}
        ).dropna()
        total_label = "全渠道 All channels"
        lines = pd.concat(
            [
                yoy.assign(label=yoy.channel_group.map(labels))[["m", "label", "yoy"]],
                total_yoy.assign(label=total_label),
            ]
        )
        lines["month"] = lines.m.map(month_label)
        yoy_colors = ch.color_scale(
            [*[labels[c] for c in groups], total_label],
            {**{labels[c]: ch.GROUP_COLORS.get(c, "") for c in groups}, total_label: "#222"},
        )
        blocks.append(
            Block(
                chart=Chart(
                    "chart-yoy",
                    "月度同比增长（按渠道）",
                    "Monthly YoY growth by channel group",
                    ch.monthly_lines(
                        lines,
                        "month",
                        "yoy",
                        "label",
                        ch.title("月度同比增长（按渠道）", "Monthly YoY growth of net sales"),
                        [*[labels[c] for c in groups], total_label],
                        yoy_colors,
                        "同比 YoY",
                        ".0%",
                        zero_rule=True,
                    ),
                ),
                note_zh="新渠道首年无同比。" if "overseas" in groups else "",
                note_en="A channel in its first year has no YoY." if "overseas" in groups else "",
            )
        )
    top = max(groups, key=lambda c: yearly.get((review.year, c)) or 0)
    return Section(
        "mix",
        "渠道结构与月度趋势",
        "Channel mix and monthly trend",
        blocks=blocks,
        summary_zh=f"{labels[top].split(' ')[0]}渠道贡献最大，占净销售额 "
        f"{fmt.pct(fmt.ratio(yearly.get((review.year, top)), this_sum))}；全渠道同比 "
        f"{fmt.pct(fmt.growth(this_sum, prior_sum if has_prior else None), signed=True)}。",
        summary_en=f"{GROUP_NAME_EN.get(top, top)} is the largest channel group "
        f"({fmt.pct(fmt.ratio(yearly.get((review.year, top)), this_sum))} of net sales); "
        f"all channels YoY "
        f"{fmt.pct(fmt.growth(this_sum, prior_sum if has_prior else None), signed=True)}.",
    )


def online_platforms(review: Review) -> Section:
    """3. 线上平台份额: each platform's share of online gross sales, trend, YoY, margin."""
    frame = review.served.frame(
        "SELECT year(cp.month)::INTEGER AS year, month(cp.month)::INTEGER AS m, cp.channel, "
        "any_value(cp.channel_name_zh) AS name_zh, any_value(dc.sort_order) AS sort_order, "
        "sum(gross_sales) AS gross_sales, sum(net_sales) AS net_sales, "
        "sum(gross_margin) AS gross_margin, sum(orders) AS orders "
        "FROM marts.channel_performance cp LEFT JOIN marts.dim_channel dc USING (channel) "
        f"WHERE cp.channel_group = 'online' AND {MONTHS_WHERE} "
        # ordered: a chart's data in the order a hash aggregate happened to give changed its
        # spec, and so its cache key and its SVG, from one render of the same data to the next
        "GROUP BY ALL ORDER BY 1, 2, 3",
        review.months_params(),
    )
    this = frame[frame.year == review.year]
    if this.empty:
        return Section(
            "online",
            "线上平台份额",
            "Online platform shares",
            blocks=[Block(note_zh="本期没有线上销售。", note_en="No online sales in the period.")],
        )
    platforms = list(
        this.groupby("channel").sort_order.min().sort_values().index
    )  # dim_channel's display order
    labels = {
        code: bilingual(this[this.channel == code].name_zh.iloc[0], code) for code in platforms
    }
    yearly = frame.groupby(["year", "channel"])[
        ["gross_sales", "net_sales", "gross_margin", "orders"]
    ].sum()
    online_gross = yearly.loc[review.year].gross_sales.sum()
    rows, bars = [], []
    for code in platforms:
        now = yearly.loc[(review.year, code)]
        before = yearly.loc[(review.prior, code)] if (review.prior, code) in yearly.index else None
        share = now.gross_sales / online_gross
        gross_yoy = fmt.growth(now.gross_sales, None if before is None else before.gross_sales)
        rows.append(
            [
                labels[code],
                fmt.cny(now.gross_sales),
                fmt.pct(share),
                fmt.pct(gross_yoy, signed=True),
                fmt.cny(now.net_sales),
                fmt.pct(fmt.ratio(now.gross_margin, now.net_sales)),
                fmt.count(now.orders),
                fmt.cny(fmt.ratio(now.net_sales, now.orders)),
            ]
        )
        bars.append(
            {
                "label": labels[code],
                "share": share,
                "text": f"{fmt.pct(share)} · {fmt.wan(now.gross_sales)}"
                + (
                    f" · 同比 YoY {fmt.pct(gross_yoy, signed=True)}"
                    if gross_yoy is not None
                    else ""
                ),
            }
        )
    rows.append(
        [
            "线上合计 Online total",
            fmt.cny(online_gross),
            fmt.pct(1.0),
            fmt.pct(
                fmt.growth(
                    online_gross,
                    yearly.loc[review.prior].gross_sales.sum()
                    if review.prior in yearly.index.get_level_values(0)
                    else None,
                ),
                signed=True,
            ),
            fmt.cny(yearly.loc[review.year].net_sales.sum()),
            fmt.pct(
                fmt.ratio(
                    yearly.loc[review.year].gross_margin.sum(),
                    yearly.loc[review.year].net_sales.sum(),
                )
            ),
            fmt.count(yearly.loc[review.year].orders.sum()),
            fmt.cny(
                fmt.ratio(
                    yearly.loc[review.year].net_sales.sum(), yearly.loc[review.year].orders.sum()
                )
            ),
        ]
    )
    table = Table(
        "线上平台",
        "Online platforms (CNY)",
        [
            ("平台", "Platform"),
            ("毛销售额", "Gross sales"),
            ("占线上毛销售额", "Share of online gross"),
            ("毛销售额同比", "Gross sales YoY"),
            ("净销售额", "Net sales"),
            ("毛利率", "GM rate"),
            ("订单数", "Orders"),
            ("客单价", "Avg order value"),
        ],
        rows,
        total_rows={len(rows) - 1},
        table_id="online-table",
    )
    colors = ch.color_scale([labels[c] for c in platforms])
    share_chart = Chart(
        "chart-online-share",
        "线上平台毛销售额占比",
        "Share of online gross sales",
        ch.labelled_bars(
            pd.DataFrame(bars),
            "label",
            "share",
            "text",
            ch.title("线上平台毛销售额占比", "Share of online gross sales by platform"),
            [labels[c] for c in platforms],
            "占线上毛销售额 Share of online gross sales",
            ".0%",
            colors=colors,
        ),
    )
    this = this.assign(
        label=this.channel.map(labels),
        month=this.m.map(month_label),
        series_rank=this.channel.map({c: i for i, c in enumerate(platforms)}),
    )
    trend_chart = Chart(
        "chart-online-trend",
        "线上平台月度份额",
        "Monthly share of online gross sales",
        ch.monthly_stack(
            this,
            "month",
            "gross_sales",
            "label",
            ch.title("线上平台月度份额", "Monthly share of online gross sales"),
            [labels[c] for c in platforms],
            colors,
            "占比 Share",
            normalize=True,
        ),
    )
    leader = platforms[0] if platforms else ""
    leader_share = fmt.ratio(yearly.loc[(review.year, leader)].gross_sales, online_gross)
    return Section(
        "online",
        "线上平台份额",
        "Online platform shares",
        blocks=[Block(chart=share_chart, table=table, wide=True), Block(chart=trend_chart)],
        summary_zh=f"线上毛销售额 {fmt.wan(online_gross)}元，{labels[leader].split(' ')[0]}"
        f"占 {fmt.pct(leader_share)}。",
        summary_en=f"Online gross sales {fmt.millions(online_gross)}; {leader} holds "
        f"{fmt.pct(leader_share)}.",
    )


def store_productivity(review: Review) -> Section:
    """4. 门店效率: sales per store-month, active stores, regions' share of store sales."""
    served = review.served
    monthly = served.frame(
        "SELECT year(month)::INTEGER AS year, month(month)::INTEGER AS m, "
        "sum(gross_sales) AS gross_sales, sum(net_sales) AS net_sales, "
        "sum(active_stores) AS active_stores "
        f"FROM marts.channel_performance WHERE channel_group = 'store' AND {MONTHS_WHERE} "
        "GROUP BY ALL ORDER BY 1, 2",
        review.months_params(),
    )
    if monthly[monthly.year == review.year].empty:
        return Section(
            "stores",
            "门店效率",
            "Store productivity",
            blocks=[Block(note_zh="本期没有门店销售。", note_en="No store sales in the period.")],
        )
    coverage = served.frame(
        "SELECT year(period_start)::INTEGER AS year, region, region_name_zh, active_stores, "
        "store_net_sales, share_of_store_sales FROM marts.regional_coverage "
        "WHERE period_type = 'year' AND year(period_start) IN (?, ?) AND city_tier = 'all'",
        [review.year, review.prior],
    )
    names_en = _region_names_en(review)
    yearly = monthly.groupby("year")[["gross_sales", "net_sales", "active_stores"]].sum()
    company = coverage[coverage.region == "all"].set_index("year").active_stores

    def kpis_of(year: int) -> dict[str, float | None]:
        if year not in yearly.index:
            return {"gross": None, "stores": None, "store_months": None, "per": None}
        row = yearly.loc[year]
        return {
            "gross": row.gross_sales,
            "stores": company.get(year),
            "store_months": row.active_stores,
            "per": fmt.ratio(row.gross_sales, row.active_stores),
        }

    now, before = kpis_of(review.year), kpis_of(review.prior)
    kpi_rows = [
        [
            "门店毛销售额 Store gross sales",
            fmt.cny(now["gross"]),
            fmt.cny(before["gross"]),
            fmt.pct(fmt.growth(now["gross"], before["gross"]), signed=True),
        ],
        [
            "活跃门店数 Active stores",
            fmt.count(now["stores"]),
            fmt.count(before["stores"]),
            fmt.pct(fmt.growth(now["stores"], before["stores"]), signed=True),
        ],
        [
            "门店月数 Store-months",
            fmt.count(now["store_months"]),
            fmt.count(before["store_months"]),
            fmt.pct(fmt.growth(now["store_months"], before["store_months"]), signed=True),
        ],
        [
            "单店月销 Sales per store-month",
            fmt.cny(now["per"]),
            fmt.cny(before["per"]),
            fmt.pct(fmt.growth(now["per"], before["per"]), signed=True),
        ],
    ]
    kpi_table = Table(
        "门店效率",
        "Store productivity (gross sales, CNY)",
        [("指标", "Measure"), ("本年", "This year"), ("上年", "Prior year"), ("同比", "YoY")],
        kpi_rows,
        table_id="stores-table",
    )
    per_month = monthly.assign(
        per=monthly.gross_sales / monthly.active_stores,
        month=monthly.m.map(month_label),
        year_label=monthly.year.map({review.year: THIS, review.prior: PRIOR}),
    )
    per_chart = Chart(
        "chart-store-month",
        "单店月销",
        "Sales per store-month",
        ch.grouped_bars(
            per_month,
            "month",
            "per",
            "year_label",
            ch.title("单店月销（毛销售额 / 活跃门店）", "Gross sales per active store and month"),
            ch.MONTHS,
            [THIS, PRIOR],
            [ch.THIS_YEAR, ch.PRIOR_YEAR],
            "元 CNY",
            ",.0f",
        ),
    )
    stores_chart = Chart(
        "chart-active-stores",
        "月度活跃门店数",
        "Active stores by month",
        ch.monthly_lines(
            per_month,
            "month",
            "active_stores",
            "year_label",
            ch.title("月度活跃门店数", "Active stores by month"),
            [THIS, PRIOR],
            ch.color_scale([THIS, PRIOR], {THIS: ch.THIS_YEAR, PRIOR: ch.PRIOR_YEAR}),
            "门店数 Stores",
            ",.0f",
        ),
    )
    regions = coverage[(coverage.year == review.year) & (coverage.region != "all")]
    regions = regions[regions.store_net_sales.fillna(0) > 0].sort_values(
        "share_of_store_sales", ascending=False
    )
    region_rows = [
        [
            bilingual(r.region_name_zh, names_en.get(r.region, r.region)),
            fmt.count(r.active_stores),
            fmt.cny(r.store_net_sales),
            fmt.pct(r.share_of_store_sales),
        ]
        for r in regions.itertuples()
    ]
    region_table = Table(
        "各区域门店",
        "Stores by region (net sales, CNY)",
        [
            ("区域", "Region"),
            ("活跃门店", "Active stores"),
            ("门店净销售额", "Store net sales"),
            ("占门店销售", "Share of store sales"),
        ],
        region_rows,
        table_id="store-regions-table",
    )
    region_bars = regions.assign(
        label=[
            bilingual(r.region_name_zh, names_en.get(r.region, r.region))
            for r in regions.itertuples()
        ],
        text=[
            f"{fmt.pct(r.share_of_store_sales)} · {fmt.count(r.active_stores)} 家 stores"
            for r in regions.itertuples()
        ],
    )
    region_chart = Chart(
        "chart-store-regions",
        "各区域占门店净销售额",
        "Regions' share of store net sales",
        ch.labelled_bars(
            region_bars,
            "label",
            "share_of_store_sales",
            "text",
            ch.title("各区域占门店净销售额", "Regions' share of store net sales"),
            list(region_bars.label),
            "占比 Share",
            ".0%",
        ),
    )
    return Section(
        "stores",
        "门店效率",
        "Store productivity",
        kpis=[
            Kpi(
                "单店月销",
                "Sales per store-month",
                f"{fmt.cny(now['per'])}元",
                f"同比 YoY {fmt.pct(fmt.growth(now['per'], before['per']), signed=True)}",
            ),
            Kpi(
                "活跃门店",
                "Active stores",
                fmt.count(now["stores"]),
                f"上年 Prior {fmt.count(before['stores'])}",
            ),
            Kpi(
                "门店毛销售额",
                "Store gross sales",
                fmt.wan(now["gross"]) + "元",
                f"CNY {fmt.cny(now['gross'])}",
            ),
        ],
        blocks=[
            Block(chart=per_chart, table=kpi_table),
            Block(chart=stores_chart),
            Block(chart=region_chart, table=region_table),
        ],
        summary_zh="单店月销 = 门店毛销售额 ÷ 活跃门店月数（每月有销售的门店数之和）。",
        summary_en="Sales per store-month = store gross sales / active store-months (the sum "
        "over the months of the stores with a sale that month).",
    )


def _region_names_en(review: Review) -> dict[str, str]:
    frame = review.served.frame(
        "SELECT DISTINCT region, region_name_en FROM marts.dim_geography "
        "WHERE region_name_en IS NOT NULL"
    )
    return dict(zip(frame.region, frame.region_name_en, strict=True))
