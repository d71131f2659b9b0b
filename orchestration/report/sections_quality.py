"""Section 9 of the review, how far to trust it (rows quarantined or rejected per feed, checks
that failed, the published version), and for FY2023 the review's headline figures beside the
warehouse's."""

from __future__ import annotations

import pandas as pd

from orchestration.report import charts as ch
from orchestration.report import fmt
from orchestration.report.charts import Chart
from orchestration.report.model import Block, Kpi, Review, Section, Table

alt = ch.alt
FEED_NAMES = {
    "online_order_lines": "线上订单 Online orders",
    "online_refunds": "线上退款 Online refunds",
    "store_pos_lines": "门店 POS Store POS",
    "distributor_sell_in": "经销商进货 Distributor sell-in",
    "shopee_orders": "Shopee 订单 Shopee orders",
    "lazada_orders": "Lazada 订单 Lazada orders",
    "products": "产品 Products",
    "stores": "门店 Stores",
    "distributors": "经销商 Distributors",
    "targets": "目标 Targets",
    "fx_rates": "汇率 FX rates",
}
ISSUE_KINDS = {
    "quarantined": "隔离（无法读取）Quarantined",
    "rejected": "剔除（数据问题）Rejected",
    "excluded": "排除（按规则）Excluded by rule",
}
CHECK_STATUS = {
    "passed": "通过 Passed",
    "failed_warn": "未通过（警告）Failed (warn)",
    "failed_error": "未通过（错误）Failed (error)",
    "not_run": "未运行 Not run",
}
CHECK_COLORS = ["#3f9a63", "#d9a62e", "#c9484a", "#a9b6c8"]
LAYER_ORDER = ("raw", "staging", "intermediate", "marts")


def feed_label(feed: str) -> str:
    return FEED_NAMES.get(feed, feed)


def data_quality(review: Review) -> Section:
    """9. 数据质量: what was quarantined, rejected and excluded, and which checks failed."""
    served = review.served
    blocks: list[Block] = []
    kpis: list[Kpi] = []
    if not served.has_table("data_quality_feeds"):
        blocks.append(
            Block(
                note_zh="此版本的服务库没有数据质量表（发布步骤未写入）。",
                note_en="This version of the serving database has no data-quality tables "
                "(its publish step did not write them).",
            )
        )
    else:
        feed_blocks, feed_kpis = _feeds(review)
        blocks += feed_blocks
        kpis += feed_kpis
    check_blocks, check_kpis = _checks(review)
    blocks += check_blocks
    kpis += check_kpis
    version = review.version
    blocks.append(
        Block(
            table=Table(
                "数据版本",
                "Data version",
                [("项目", "Item"), ("值", "Value")],
                [
                    ["发布编号 Publish id", version.publish_id],
                    ["发布时间 Published at (UTC)", f"{version.published_at:%Y-%m-%d %H:%M}"],
                    ["最新营业日 Latest business date", str(version.latest_business_date)],
                    ["代码版本 Git commit", version.git_commit[:12]],
                    ["内容指纹 Content fingerprint", version.content_fingerprint],
                ],
                numeric=[False, False],
                table_id="version-table",
            ),
            wide=True,
        )
    )
    return Section(
        "quality",
        "数据质量",
        "Data quality",
        kpis=kpis,
        blocks=blocks,
        summary_zh="隔离：无法解析的原始行，不进入数据；剔除：引用未知产品、门店、订单等的销售行，"
        "不计入指标；排除：按规则不算销售（已取消订单）。检查结果为发布时各检查的最近一次运行。",
        summary_en="Quarantined: raw rows that could not be read, kept out; rejected: sales "
        "lines referring to an unknown product, store, order..., not counted; excluded: not "
        "sales by rule (cancelled orders). Checks: the latest run of each check at publish time.",
    )


def _feeds(review: Review) -> tuple[list[Block], list[Kpi]]:
    served = review.served
    feeds = served.frame("SELECT * FROM marts.data_quality_feeds ORDER BY feed")
    issues = (
        served.frame(
            "SELECT feed, issue_kind, reason, year, row_count FROM marts.data_quality_issues "
            "WHERE year = ? OR year IS NULL",
            [review.year],
        )
        if served.has_table("data_quality_issues")
        else pd.DataFrame(columns=["feed", "issue_kind", "reason", "year", "row_count"])
    )
    in_year = issues.groupby(["feed", "issue_kind"]).row_count.sum()
    rows = []
    for r in feeds.itertuples():
        rows.append(
            [
                feed_label(r.feed),
                fmt.count(r.files),
                fmt.count(r.rows_read),
                fmt.count(r.rows_loaded),
                fmt.count(r.rows_quarantined),
                fmt.pct(r.quarantine_rate, 3),
                fmt.count(in_year.get((r.feed, "rejected"), 0)),
                fmt.count(in_year.get((r.feed, "excluded"), 0)),
            ]
        )
    feed_table = Table(
        "各数据源",
        f"Per feed (rejected and excluded: business year {review.year}; loads: all files)",
        [
            ("数据源", "Feed"),
            ("文件", "Files"),
            ("读取行", "Rows read"),
            ("入库行", "Loaded"),
            ("隔离行", "Quarantined"),
            ("隔离率", "Quarantine rate"),
            ("剔除行", "Rejected"),
            ("排除行", "Excluded"),
        ],
        rows,
        table_id="quality-feeds-table",
    )
    chart_frame = in_year.reset_index()
    chart_frame = chart_frame[chart_frame.row_count > 0]
    blocks = []
    if not chart_frame.empty:
        chart_frame["feed_label"] = chart_frame.feed.map(feed_label)
        chart_frame["kind"] = chart_frame.issue_kind.map(ISSUE_KINDS)
        kinds = [ISSUE_KINDS[k] for k in ISSUE_KINDS]
        base = alt.Chart(chart_frame).encode(
            y=alt.Y("feed_label:N", title=None, axis=alt.Axis(labelLimit=220)),
            yOffset=alt.YOffset("kind:N", sort=kinds),
            x=alt.X(
                "row_count:Q",
                title="行数（对数刻度）Rows (log scale)",
                scale=alt.Scale(type="symlog"),
                axis=alt.Axis(format=",.0f"),
            ),
        )
        chart = alt.layer(
            base.mark_bar(height=9).encode(
                color=alt.Color(
                    "kind:N",
                    sort=kinds,
                    title=None,
                    scale=alt.Scale(domain=kinds, range=["#c9484a", "#d9a62e", "#a9b6c8"]),
                )
            ),
            base.mark_text(align="left", dx=3, fontSize=10).encode(text="row_count:Q"),
            title=ch.title(
                "隔离、剔除与排除的行",
                "Rows quarantined, rejected and excluded",
                f"剔除与排除：{review.year}年营业日；隔离：全部文件  Rejected and "
                f"excluded: business year {review.year}; quarantined: all files",
            ),
        ).properties(width=ch.WIDTH - 160, height=max(36 * chart_frame.feed.nunique(), 80))
        blocks.append(
            Block(
                chart=Chart("chart-quality-feeds", "数据问题", "Data issues per feed", chart),
                table=feed_table,
                wide=True,
            )
        )
    else:
        blocks.append(Block(table=feed_table, wide=True))
    reasons = issues[issues.issue_kind != "excluded"].sort_values("row_count", ascending=False)
    if not reasons.empty:
        blocks.append(
            Block(
                table=Table(
                    "隔离与剔除原因",
                    "Why rows were quarantined or rejected",
                    [("数据源", "Feed"), ("类型", "Kind"), ("原因", "Reason"), ("行数", "Rows")],
                    [
                        [
                            feed_label(r.feed),
                            ISSUE_KINDS[r.issue_kind],
                            r.reason,
                            fmt.count(r.row_count),
                        ]
                        for r in reasons.itertuples()
                    ],
                    numeric=[False, False, False, True],
                    table_id="quality-reasons-table",
                ),
                wide=True,
            )
        )
    read = feeds.rows_read.sum()
    kpis = [
        Kpi(
            "隔离行",
            "Rows quarantined",
            fmt.count(feeds.rows_quarantined.sum()),
            f"读取 {fmt.count(read)} 行 of rows read",
        ),
        Kpi(
            "剔除行（本年）",
            f"Lines rejected ({review.year})",
            fmt.count(issues[issues.issue_kind == "rejected"].row_count.sum()),
        ),
    ]
    return blocks, kpis


def _checks(review: Review) -> tuple[list[Block], list[Kpi]]:
    served = review.served
    if not served.has_table("data_quality_checks"):
        return [
            Block(
                note_zh="此版本没有检查结果。",
                note_en="No check results in this version.",
            )
        ], []
    checks = served.frame(
        "SELECT asset_key, layer, check_name, check_kind, status, severity, evaluated_at, "
        "failed_count, details FROM marts.data_quality_checks ORDER BY layer, asset_key"
    )
    checks["outcome"] = [
        "passed"
        if s == "passed"
        else f"failed_{(sev or 'error').lower()}"
        if s in ("failed", "execution_failed")
        else "not_run"
        for s, sev in zip(checks.status, checks.severity, strict=True)
    ]
    counts = checks.groupby(["layer", "outcome"]).size().reset_index(name="checks")
    counts["status"] = counts.outcome.map(CHECK_STATUS)
    layers = [layer for layer in LAYER_ORDER if layer in set(counts.layer)]
    layers += sorted(set(counts.layer) - set(layers))
    statuses = list(CHECK_STATUS.values())
    chart = (
        alt.Chart(
            counts,
            title=ch.title(
                "各层检查结果",
                "Checks by layer",
                "Great Expectations 套件与 dbt 测试  GX suites and dbt tests",
            ),
        )
        .mark_bar()
        .encode(
            y=alt.Y("layer:N", sort=layers, title=None),
            x=alt.X("checks:Q", title="检查数 Checks"),
            color=alt.Color(
                "status:N",
                sort=statuses,
                title=None,
                scale=alt.Scale(domain=statuses, range=CHECK_COLORS),
            ),
            order=alt.Order("outcome:N"),
        )
        .properties(width=ch.WIDTH - 80, height=36 * len(layers))
    )
    failed = checks[checks.outcome.str.startswith("failed")]
    failed_rows = [
        [
            r.asset_key,
            r.check_name,
            f"{r.check_kind} · {r.severity or '–'}",
            fmt.count(r.failed_count),
            r.details or "",
        ]
        for r in failed.itertuples()
    ]
    table = Table(
        "未通过的检查",
        "Checks that failed (latest evaluation)",
        [
            ("资产", "Asset"),
            ("检查", "Check"),
            ("类型·级别", "Kind · severity"),
            ("问题行", "Failing rows"),
            ("说明", "What failed"),
        ],
        failed_rows or [["–", "全部通过 all passed", "", "", ""]],
        numeric=[False, False, False, True, False],
        table_id="quality-checks-table",
    )
    summary = Table(
        "检查汇总",
        "Checks summary",
        [("层", "Layer"), *[tuple(s.split(" ", 1)) for s in statuses]],
        [
            [
                layer,
                *[
                    str(
                        int(
                            ((counts.layer == layer) & (counts.status == s))
                            .mul(counts.checks)
                            .sum()
                        )
                    )
                    for s in statuses
                ],
            ]
            for layer in layers
        ],
        table_id="quality-summary-table",
    )
    errors = int((checks.outcome == "failed_error").sum())
    kpis = [
        Kpi(
            "检查通过",
            "Checks passed",
            f"{int((checks.outcome == 'passed').sum())} / {len(checks)}",
            f"未通过 failed: {len(failed)}（错误 error {errors}）",
            tone="bad" if errors else "",
        ),
    ]
    return [
        Block(
            chart=Chart("chart-quality-checks", "各层检查结果", "Checks by layer", chart),
            table=summary,
        ),
        Block(table=table, wide=True),
    ], kpis


FIGURE_LABELS_ZH = {
    1: "全渠道净销售额",
    2: "净销售额目标与达成率",
    3: "线上毛销售额",
    4: "天猫毛销售额、占线上比、同比",
    5: "门店毛销售额与活跃门店",
    6: "单店月销",
    7: "华东占门店净销售额",
    8: "经销商毛销售额与活跃经销商",
    9: "TOP10 经销商毛销售额与贡献率",
    10: "各渠道毛利率",
    11: "智能手机占比与同比",
    12: "服务占比",
    13: "华南净销售额同比",
    14: "华东活跃经销商 vs 目标",
    15: "华东覆盖率与二三线空白率",
    16: "2024年Q3 华东经销商渠道",
    17: "A 系列净销售额与达成率",
    18: "B 系列净销售额与达成率",
}
REVIEW_YEAR = 2023  # the year of the review whose headline figures orchestration.figures holds


def review_figures(review: Review) -> Section | None:
    """Appendix of the FY2023 report: the review's 18 headline figures, read with the queries
    of orchestration.figures on this report's connection (the same published version)."""
    if review.year != REVIEW_YEAR:
        return None
    from orchestration.figures import FIGURES, _format, _within

    rows, misses = [], 0
    for figure in FIGURES:
        row = review.served.connection.execute(figure.sql).fetchone()
        actual = None if row is None or row[0] is None else float(row[0])
        ok = _within(figure, figure.expected, actual)
        misses += not ok
        rows.append(
            [
                str(figure.number),
                f"{FIGURE_LABELS_ZH.get(figure.number, '')} {figure.label}".strip(),
                _format(actual, figure.kind),
                _format(figure.expected, figure.kind),
                "是 yes" if ok else "否 NO",
                figure.note,
            ]
        )
    return Section(
        "figures",
        "附录：复盘核心数据核对",
        "Appendix: the review's headline figures",
        blocks=[
            Block(
                table=Table(
                    "复盘原文数字与数仓数字",
                    "The review's figures beside the warehouse's (tolerance ±0.5% for "
                    "amounts, ±0.2 points for rates)",
                    [
                        ("#", "#"),
                        ("指标", "Figure"),
                        ("数仓", "Warehouse"),
                        ("复盘", "Review"),
                        ("在容差内", "Within tolerance"),
                        ("说明", "Note"),
                    ],
                    rows,
                    numeric=[True, False, True, True, False, False],
                    table_id="figures-table",
                ),
                wide=True,
            )
        ],
        summary_zh="复盘原文数字为公司实际规模；演示数据以其他比例生成时金额按比例变化。"
        + (f"有 {misses} 项不在容差内。" if misses else "全部在容差内。"),
        summary_en="The review's amounts are the company's (demo scale 1); data generated at "
        "another scale scales them. "
        + (f"{misses} figure(s) outside tolerance." if misses else "All within tolerance."),
    )
