"""Daily demand weights: weekends, 618, Double 11, Spring Festival."""

from __future__ import annotations

import numpy as np

# Lunar new year's day; demand dips from three days before to a week after.
SPRING_FESTIVAL = {
    2020: "2020-01-25",
    2021: "2021-02-12",
    2022: "2022-02-01",
    2023: "2023-01-22",
    2024: "2024-02-10",
    2025: "2025-01-29",
    2026: "2026-02-17",
    2027: "2027-02-06",
    2028: "2028-01-26",
    2029: "2029-02-13",
    2030: "2030-02-03",
    2031: "2031-01-23",
    2032: "2032-02-11",
    2033: "2033-01-31",
    2034: "2034-02-19",
    2035: "2035-02-08",
    2036: "2036-01-28",
    2037: "2037-02-15",
    2038: "2038-02-04",
    2039: "2039-01-24",
    2040: "2040-02-12",
}

PEAK_STRENGTH = {  # (618 ramp, 618 day, Double 11 ramp, Double 11 day, weekend)
    "online": (1.35, 3.0, 1.6, 6.0, 1.10),
    "store": (1.10, 1.3, 1.15, 1.4, 1.35),
    "distributor": (1.0, 1.0, 1.0, 1.0, 0.35),
    "overseas": (1.05, 1.3, 1.4, 4.0, 1.15),  # 11.11 is big on Shopee and Lazada too
}


def check_calendar_covers(last_year: int) -> None:
    """The lunar calendar is a table: a year past it would silently lose its Spring Festival."""
    if last_year > max(SPRING_FESTIVAL):
        raise ValueError(
            f"no Spring Festival date for {last_year}: the demo calendar ends in "
            f"{max(SPRING_FESTIVAL)} (orchestration/datagen/calendar.py)"
        )


def daily_weights(days: np.ndarray, channel_group: str) -> np.ndarray:
    """Relative demand of each day (datetime64[D] array) for a channel group."""
    ramp_618, day_618, ramp_11, day_11, weekend = PEAK_STRENGTH[channel_group]
    months = days.astype("datetime64[M]")
    day_of_month = (days - months).astype(int) + 1
    month_of_year = months.astype(int) % 12 + 1
    weekday = (days.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
    weights = np.ones(days.shape, dtype=float)
    weights[weekday >= 5] *= weekend
    in_june = month_of_year == 6
    weights[in_june & (day_of_month < 18)] *= ramp_618
    weights[in_june & (day_of_month == 18)] *= day_618
    in_november = month_of_year == 11
    weights[in_november & (day_of_month < 11)] *= ramp_11
    weights[in_november & (day_of_month == 11)] *= day_11
    weights[month_of_year == 12] *= 1.08
    years = months.astype("datetime64[Y]").astype(int) + 1970
    for year, new_year in SPRING_FESTIVAL.items():
        start = np.datetime64(new_year) - np.timedelta64(3, "D")
        end = np.datetime64(new_year) + np.timedelta64(7, "D")
        weights[(years == year) & (days >= start) & (days < end)] *= 0.4
    return weights
