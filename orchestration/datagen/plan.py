"""The business plan the demo data is drawn from, calibrated on the FY2023 review.

Everything here is at scale 1 in CNY. The generator turns these annual figures into cells
(month x channel x region x series) of *planned net sales* and then draws order lines until
each cell's gross sales are met; discounts are finally solved per quarter x channel group x
region x series so that net sales hit the plan to the cent. The constants below are the only
place the review's headline figures (the README's table) enter the code.

The plan years (YEARS) are calibrated; the business goes on after them. A later year continues
2025 with a fixed growth per channel (GROWTH_AFTER_PLAN) and 2025's margins, product mix and
regional split, except for the south's master distributor (MASTER_DISTRIBUTOR) from 2026.
"""

from __future__ import annotations

from dataclasses import dataclass

YEARS = (2022, 2023, 2024, 2025)
CALIBRATION_YEAR = 2023
LAST_PLAN_YEAR = YEARS[-1]

CHANNEL_GROUPS = ("online", "store", "distributor", "overseas")
ONLINE_PLATFORMS = ("tmall", "jd", "pinduoduo", "douyin", "wecom_community")
DOMESTIC_REGIONS = ("east", "south", "north", "central", "southwest", "northwest", "northeast")
OVERSEAS_COUNTRIES = ("th", "vn", "my")
COUNTRY_LAUNCH_YEAR = {"th": 2024, "vn": 2024, "my": 2025}

# Gross sales (list price x units) by channel and year; headline figures 3, 4, 5 and 8.
GROSS_BY_CHANNEL: dict[int, dict[str, float]] = {
    2022: {
        "tmall": 42_000_000 / 1.18,
        "jd": 20_000_000,
        "pinduoduo": 8_900_000,
        "douyin": 6_500_000,
        "wecom_community": 3_000_000,
        "store": 58_000_000,
        "distributor": 44_000_000,
    },
    2023: {
        "tmall": 42_000_000,
        "jd": 22_000_000,
        "pinduoduo": 9_000_000,
        "douyin": 8_500_000,
        "wecom_community": 3_500_000,
        "store": 62_000_000,
        "distributor": 48_000_000,
    },
    2024: {
        "tmall": 45_000_000,
        "jd": 23_500_000,
        "pinduoduo": 9_800_000,
        "douyin": 12_000_000,
        "wecom_community": 4_700_000,
        "store": 64_000_000,
        "distributor": 51_000_000,
        "shopee": 4_200_000,
        "lazada": 2_300_000,
    },
    2025: {
        "tmall": 47_000_000,
        "jd": 24_000_000,
        "pinduoduo": 10_500_000,
        "douyin": 16_000_000,
        "wecom_community": 5_800_000,
        "store": 63_000_000,
        "distributor": 54_000_000,
        "shopee": 8_000_000,
        "lazada": 4_500_000,
    },
}
FY2023_NET_SALES = 132_000_000  # figure 1

# After the plan years, gross sales grow by these rates a year, compounded from 2025: the big
# marketplaces mature, live-stream (douyin) and private-domain (wecom) sales keep growing fast,
# stores hold their ground (openings and closings about even), distributors grow with the south's
# master distributor, and the overseas marketplaces keep ramping up.
GROWTH_AFTER_PLAN = {
    "tmall": 0.04,
    "jd": 0.03,
    "pinduoduo": 0.06,
    "douyin": 0.18,
    "wecom_community": 0.12,
    "store": 0.01,
    "distributor": 0.12,
    "shopee": 0.30,
    "lazada": 0.25,
}

# Gross margin rate by channel group (figure 10 for 2023).
GROSS_MARGIN_RATE: dict[int, dict[str, float]] = {
    2022: {"online": 0.475, "store": 0.420, "distributor": 0.365},
    2023: {"online": 0.482, "store": 0.425, "distributor": 0.368},
    2024: {"online": 0.486, "store": 0.428, "distributor": 0.370},
    2025: {"online": 0.490, "store": 0.431, "distributor": 0.372},
}
OVERSEAS_NET_RATIO = 0.80  # net / gross overseas, not calibrated on any figure

# Share of units that come back, by channel group (drives COGS, so it enters the calibration).
FULL_REFUND_RATE = {"online": 0.06, "store": 0.03, "distributor": 0.01, "overseas": 0.04}
PARTIAL_REFUND_RATE = {"online": 0.025}
DISTRIBUTOR_RETURN_SHARE = 0.3  # a distributor return sends back ~30% of a line's units
STANDARD_REBATE_RATE = 0.02  # monthly contractual rebate on invoiced purchases

CHANNEL_GROUP_OF = {
    **{p: "online" for p in ONLINE_PLATFORMS},
    "store": "store",
    "distributor": "distributor",
    "shopee": "overseas",
    "lazada": "overseas",
}


@dataclass(frozen=True)
class Series:
    code: str
    name: str
    product_line: str
    cost_ratio: float  # unit cost / list price before the global cost calibration
    launch: str  # first month on sale, YYYY-MM
    skus: tuple[tuple[str, str, float, float], ...]  # (sku, name, launch list price, weight)


SERIES: tuple[Series, ...] = (
    Series(
        "A",
        "A系列 折叠屏旗舰",
        "smartphone",
        0.46,
        "2023-03",
        (("A1", "A1 折叠屏 256G", 6999.0, 0.6), ("A2", "A2 折叠屏 512G", 8499.0, 0.4)),
    ),
    Series(
        "C",
        "C系列 主力机型",
        "smartphone",
        0.50,
        "2020-01",
        (
            ("C1", "C1 手机 128G", 2999.0, 0.45),
            ("C2", "C2 手机 256G", 3499.0, 0.35),
            ("C3", "C3 Pro 手机", 3999.0, 0.20),
        ),
    ),
    Series(
        "D",
        "D系列 青春机型",
        "smartphone",
        0.56,
        "2020-01",
        (("D1", "D1 青春版", 1299.0, 0.6), ("D2", "D2 青春版 Plus", 1599.0, 0.4)),
    ),
    Series(
        "B",
        "B系列 轻薄本",
        "laptop",
        0.46,
        "2023-06",
        (("B1", "B1 轻薄本 14寸", 6999.0, 0.55), ("B2", "B2 轻薄本 16寸", 8499.0, 0.45)),
    ),
    Series(
        "E",
        "E系列 全能本",
        "laptop",
        0.50,
        "2020-01",
        (("E1", "E1 全能本", 4999.0, 0.6), ("E2", "E2 全能本 Pro", 5999.0, 0.4)),
    ),
    Series(
        "F",
        "F系列 学生本",
        "laptop",
        0.53,
        "2020-01",
        (("F1", "F1 学生本", 3999.0, 0.55), ("F2", "F2 学生本 Plus", 4499.0, 0.45)),
    ),
    Series(
        "G",
        "G系列 智能音箱与摄像头",
        "smart_home",
        0.40,
        "2020-01",
        (
            ("G1", "G1 智能音箱", 299.0, 0.45),
            ("G2", "G2 智能摄像头", 499.0, 0.35),
            ("G3", "G3 智能门锁", 899.0, 0.20),
        ),
    ),
    Series(
        "H",
        "H系列 智能家电",
        "smart_home",
        0.38,
        "2020-01",
        (("H1", "H1 智能插座套装", 199.0, 0.5), ("H2", "H2 扫地机器人", 1299.0, 0.5)),
    ),
    Series(
        "S",
        "S系列 碎屏与延保服务",
        "services",
        0.10,
        "2020-01",
        (("S1", "S1 碎屏保", 299.0, 0.55), ("S2", "S2 两年延保", 599.0, 0.45)),
    ),
    Series(
        "T",
        "T系列 云服务会员",
        "services",
        0.12,
        "2020-01",
        (("T1", "T1 云空间年卡", 99.0, 0.6), ("T2", "T2 云空间家庭版", 199.0, 0.4)),
    ),
)
SERIES_CODES = tuple(s.code for s in SERIES)

# Net-sales share of each series by year (figures 11, 12, 17, 18 for 2023). Shares are the
# same in every channel and region, which keeps each channel's cost ratio equal to the mix's.
SERIES_NET_SHARE: dict[int, dict[str, float]] = {
    2022: {
        "A": 0.0,
        "C": 0.200,
        "D": 0.145,
        "B": 0.0,
        "E": 0.185,
        "F": 0.125,
        "G": 0.135,
        "H": 0.095,
        "S": 0.070,
        "T": 0.045,
    },
    2023: {
        "A": 4_800_000 / FY2023_NET_SALES,
        "C": 25_000_000 / FY2023_NET_SALES,
        "D": (0.35 * FY2023_NET_SALES - 29_800_000) / FY2023_NET_SALES,
        "B": 3_500_000 / FY2023_NET_SALES,
        "E": 22_000_000 / FY2023_NET_SALES,
        "F": (0.30 * FY2023_NET_SALES - 25_500_000) / FY2023_NET_SALES,
        "G": 17_000_000 / FY2023_NET_SALES,
        "H": (0.224 * FY2023_NET_SALES - 17_000_000) / FY2023_NET_SALES,
        "S": 10_000_000 / FY2023_NET_SALES,
        "T": (0.126 * FY2023_NET_SALES - 10_000_000) / FY2023_NET_SALES,
    },
    2024: {
        "A": 0.055,
        "C": 0.175,
        "D": 0.125,
        "B": 0.045,
        "E": 0.155,
        "F": 0.095,
        "G": 0.125,
        "H": 0.095,
        "S": 0.080,
        "T": 0.050,
    },
    2025: {
        "A": 0.065,
        "C": 0.170,
        "D": 0.115,
        "B": 0.055,
        "E": 0.150,
        "F": 0.090,
        "G": 0.125,
        "H": 0.095,
        "S": 0.082,
        "T": 0.053,
    },
}
SMARTPHONE_NET_2022 = 0.35 * FY2023_NET_SALES / 1.125  # figure 11 YoY

# Regional split of net sales by channel group (shares of the domestic regions).
REGION_SHARE: dict[str, dict[str, float]] = {
    "online": {
        "east": 0.34,
        "south": 0.19,
        "north": 0.15,
        "central": 0.12,
        "southwest": 0.11,
        "northwest": 0.05,
        "northeast": 0.04,
    },
    "store": {
        "east": 0.38,
        "south": 0.16,
        "north": 0.14,
        "central": 0.12,
        "southwest": 0.10,
        "northwest": 0.05,
        "northeast": 0.05,
    },  # figure 7
    "distributor": {
        "east": 0.50,
        "south": 0.14,
        "north": 0.11,
        "central": 0.10,
        "southwest": 0.08,
        "northwest": 0.04,
        "northeast": 0.03,
    },
}
SOUTH_NET_YOY_2023 = 0.18  # figure 13: fixes the 2022 south share
# Figure 16: east x distributor net sales in Q3 (2024 actual; 2023 = 2024 / (1 - 5.2%)).
EAST_DISTRIBUTOR_Q3_NET = {2024: 4_250_000, 2023: 4_250_000 / (1 - 0.052)}

# From 2026 the south has a provincial master distributor (省级总代, tier 1, in a tier-1 city):
# it takes over the region's key accounts and opens new ones, so the south's share of distributor
# sales rises from 14% to 28% and the master distributor makes 60% of it (at scale 1 about
# 10,000,000 CNY gross and 6,400,000 CNY invoiced purchases in 2026: the only distributor above
# the tiered-rebate threshold of 5,000,000, crossing it in October). The east, whose distributor
# figures the review quotes for 2023 and 2024, is left alone.
MASTER_DISTRIBUTOR = {"region": "south", "opens": "2026-01", "share_of_region": 0.60}
DISTRIBUTOR_REGION_SHARE_AFTER_PLAN = {"south": 0.28}
# Yearly network changes after the plan years: stores opening and closing (openings follow the
# regions' store counts); distributors signed (some in the east, which is far below its target
# count) and contracts ended (outside the east).
STORE_CHANGES_PER_YEAR = {"open": 9, "close": 7}
DISTRIBUTOR_CHANGES_PER_YEAR = {"open_east": 2, "open_elsewhere": 3, "end": 3}

# Distributor sell-in seasonality by month (stocking ahead of 618 and Double 11).
DISTRIBUTOR_MONTH_WEIGHT = (0.07, 0.05, 0.08, 0.08, 0.08, 0.08, 0.09, 0.10, 0.11, 0.10, 0.09, 0.07)

# Network: stores and distributors active through 2023 by region (figures 5, 8, 14).
STORES_2023 = {
    "east": 122,
    "south": 51,
    "north": 45,
    "central": 38,
    "southwest": 32,
    "northwest": 16,
    "northeast": 16,
}
DISTRIBUTORS_2023 = {
    "east": 12,
    "south": 25,
    "north": 25,
    "central": 30,
    "southwest": 25,
    "northwest": 17,
    "northeast": 16,
}
DISTRIBUTOR_TARGET_COUNT = {
    "east": 25,
    "south": 28,
    "north": 26,
    "central": 32,
    "southwest": 28,
    "northwest": 18,
    "northeast": 18,
}  # figure 14
# The ten largest distributors (all in the east) and their 2023 gross: figure 9 (21,000,000).
# The east's two other distributors share the rest of the east's distributor sales.
TOP10_DISTRIBUTOR_GROSS_2023 = (
    2.60e6,
    2.45e6,
    2.30e6,
    2.20e6,
    2.10e6,
    2.00e6,
    1.95e6,
    1.85e6,
    1.80e6,
    1.75e6,
)
# Cities with a store or distributor in 2023, by region and tier (figure 15: east).
COVERED_CITIES = {
    "east": {"1": 1, "new1": 6, "2": 4, "3": 4},
    "south": {"1": 2, "new1": 1, "2": 4, "3": 5, "4": 2},
    "north": {"1": 1, "new1": 1, "2": 2, "3": 6, "4": 2},
    "central": {"new1": 3, "3": 8, "4": 3},
    "southwest": {"new1": 3, "2": 1, "3": 5, "4": 3},
    "northwest": {"new1": 1, "2": 1, "3": 4, "4": 2},
    "northeast": {"2": 4, "4": 4},
}

# Finance's targets: ambition over the plan, and the review's fixed ones (figures 2, 16-18).
TOTAL_NET_TARGET = {2022: 115_000_000, 2023: 120_000_000, 2024: 150_000_000, 2025: 168_000_000}
SERIES_NET_TARGET_2023 = {"A": 4_800_000 / 0.87, "B": 3_500_000 / 0.88}
EAST_DISTRIBUTOR_Q3_TARGET_2024 = 5_000_000


def year_plan(year: int) -> int:
    """The plan year whose figures stand for `year` (years outside the plan reuse the nearest)."""
    return min(max(year, YEARS[0]), YEARS[-1])


def after_plan(year: int) -> bool:
    return year > LAST_PLAN_YEAR


def gross_by_channel(year: int) -> dict[str, float]:
    """Planned gross sales by channel: the plan year's, grown per channel after the plan."""
    planned = GROSS_BY_CHANNEL[year_plan(year)]
    if not after_plan(year):
        return planned
    years_on = year - LAST_PLAN_YEAR
    return {ch: v * (1 + GROWTH_AFTER_PLAN[ch]) ** years_on for ch, v in planned.items()}


def growth_factor(year: int) -> float:
    """Volume before the plan years shrinks 8% a year back from 2022 (after them, see
    gross_by_channel)."""
    return 1.08 ** min(year - year_plan(year), 0)
