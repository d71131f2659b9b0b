"""Number formats of the review: CNY with thousands separators, 万元 for headline amounts,
percentages with one decimal; a missing value is a dash (no prior year, no target)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

DASH = "–"
Number = int | float | Decimal | None


def _missing(value: Number) -> bool:
    """None, NaN, or pandas' NA (a NULL in a nullable integer column)."""
    return value is None or bool(pd.isna(value))


def cny(value: Number) -> str:
    """132000294.12 -> '132,000,294'"""
    return DASH if _missing(value) else f"{float(value):,.0f}"  # type: ignore[arg-type]


def wan(value: Number, digits: int = 1) -> str:
    """132000294 -> '13,200.0万' (万 = 10,000 CNY, as the review quotes amounts)."""
    return DASH if _missing(value) else f"{float(value) / 1e4:,.{digits}f}万"  # type: ignore[arg-type]


def yi(value: Number) -> str:
    """132000294 -> '1.32亿' (亿 = 100,000,000 CNY)."""
    return DASH if _missing(value) else f"{float(value) / 1e8:,.2f}亿"  # type: ignore[arg-type]


def millions(value: Number) -> str:
    """132000294 -> 'CNY 132.0 M'"""
    return DASH if _missing(value) else f"CNY {float(value) / 1e6:,.1f} M"  # type: ignore[arg-type]


def pct(value: Number, digits: int = 1, signed: bool = False) -> str:
    """0.494 -> '49.4%'; signed: 0.18 -> '+18.0%'"""
    if _missing(value):
        return DASH
    return f"{float(value):{'+' if signed else ''}.{digits}%}"  # type: ignore[arg-type]


def count(value: Number) -> str:
    return DASH if _missing(value) else f"{round(float(value)):,}"  # type: ignore[arg-type]


def ratio(numerator: Number, denominator: Number) -> float | None:
    if _missing(numerator) or _missing(denominator) or float(denominator) == 0:  # type: ignore[arg-type]
        return None
    return float(numerator) / float(denominator)  # type: ignore[arg-type]


def growth(current: Number, prior: Number) -> float | None:
    """Year-on-year growth; None without a prior value (or a prior of 0)."""
    share = ratio(current, prior)
    return None if share is None else share - 1
