"""Seeded synthetic parcel deliveries for the courier example, with optional drift scenarios.

Every row is one delivery at pickup. The outcome `delayed` is drawn from a known
probability (`true_delay_prob`) built by `delay_logit`, so model quality can be
compared with the best possible one. Pure numpy/pandas and fully vectorised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCENARIOS: tuple[str, ...] = ("none", "winter", "rural_depot", "holiday_backlog", "carrier_change")

DEPOTS = ("N1", "N2", "C1", "C2", "S1", "S2", "R1", "R2", "R3")
DEPOT_SHARE = np.array([0.14, 0.12, 0.16, 0.14, 0.13, 0.12, 0.10, 0.085, 0.005])
AREAS = ("urban", "suburban", "rural")
CITY, SUBURB, COUNTRY = (0.8, 0.18, 0.02), (0.2, 0.7, 0.1), (0.02, 0.18, 0.8)
AREA_BY_DEPOT = np.array([CITY] * 4 + [SUBURB] * 2 + [COUNTRY] * 3)  # P(area | depot)
DISTANCE_MEDIAN_KM = np.array([8.0, 25.0, 70.0])  # per area; lognormal, sigma 0.75
TIERS, TIER_SHARE = ("standard", "express", "same_day"), (0.70, 0.22, 0.08)
CARRIERS = ("own_fleet", "swiftship", "parcelnow", "cityhop")
CARRIER_BY_AREA = np.array(
    [[0.35, 0.25, 0.15, 0.25], [0.40, 0.27, 0.23, 0.10], [0.50, 0.25, 0.23, 0.02]]
)
WEATHERS = ("clear", "cloudy", "rain", "snow", "storm")
HOUR_WEIGHT = np.array(
    [0.2, 0.2, 0.2, 0.2, 0.2, 0.3, 1, 3, 5, 7, 8, 8, 7, 7, 8, 8, 7, 6, 4, 3, 2, 1, 0.5, 0.3]
)
WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.2])  # Mon..Sun pickups

# Depot load: parcels / capacity of the sorting wave (depot, day, hour) that handles a parcel
LOAD_BASE = 0.72  # ordinary day
LOAD_SD = 0.06  # noise of each wave; half as much per network-day and per depot-day
SURGE_SHARE, SURGE = 0.04, 0.35  # share of waves hit by a surge (late trucks), and its size
HOLIDAY_PEAK = 0.2  # added at the pre-holiday peak (ramps ~20 Nov to 24 Dec)
BACKLOG_SHIFT = 0.33  # scenario holiday_backlog: added to every wave (mean load ~1.1)
# Scenario winter, on top of moving pickups to Dec-Feb: a harsh winter
WINTER_PRECIP_FACTOR, WINTER_COLDER_C, WINTER_STORM_FACTOR = 1.8, 4.0, 2.0
R3_SHARE_RURAL_DEPOT = 0.25  # scenario rural_depot: share of volume the new depot R3 takes
R3_DISTANCE_FACTOR = 1.4  # R3 serves remote villages: its routes are longer

# Effect sizes on the delay logit (log-odds); every numeric effect is non-decreasing.
INTERCEPT = -6.15  # calibrated for ~10 % delayed in scenario "none"
# Disruptions (rain, storm/snow, overload) dominate: they decide most delays.
PRECIP_EFFECT = 0.68  # per mm of precipitation above PRECIP_FREE_MM
PRECIP_FREE_MM, PRECIP_CAP_MM = 2.0, 8.0  # drizzle is harmless; past +8 mm nothing adds
WEATHER_EFFECT = {"snow": 1.1, "storm": 1.7}  # on top of the precipitation itself
OVERLOAD_EFFECT = 22.0  # per unit of depot_load above 1 (capacity), up to OVERLOAD_CAP
OVERLOAD_CAP = 0.25  # 25 % over capacity already means a day's backlog
DISRUPTION_CAP = 5.4  # rain, storm and overload together add at most this
# Everyday effects: shift every delivery's risk a little.
LOAD_EFFECT = 0.8  # x depot_load: busier depots sort later
DISTANCE_EFFECT = 0.4  # x log1p(distance_km / 20): longer routes, more can go wrong
TRAFFIC_EFFECT = 1.0  # x traffic_index (0..1)
AREA_EFFECT = {"suburban": 0.1, "rural": 0.25}  # fewer drivers per km2
TIER_EFFECT = {"express": 0.15, "same_day": 0.5}  # tighter promises are easier to miss
SIZE_EFFECT = 0.1  # x (log1p(weight_kg) + log1p(volume_l / 20) / 2): bulky parcels need vans
CARRIER_EFFECT = {"own_fleet": -0.25, "cityhop": 0.1, "parcelnow": 0.3}  # swiftship is 0
SWIFTSHIP_DRIFT = 1.2  # scenario carrier_change: swiftship's term rises by this
LATE_PICKUP_EFFECT = 0.4  # pickup at 18:00 or later (half from 16:00)
WEEKEND_EFFECT = 0.25  # fewer drivers on Saturday and Sunday


def _checked_start(rows: int, seed: int, start: str, days: int, scenario: str) -> pd.Timestamp:
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)}, got {scenario!r}")
    for name, value, least in (("rows", rows, 1), ("days", days, 1), ("seed", seed, 0)):
        if value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value}")
    try:
        begin = pd.Timestamp(start)
    except (TypeError, ValueError):
        begin = pd.NaT
    if pd.isna(begin) or begin != begin.normalize() or begin.tz is not None:
        raise ValueError(f"start must be a date like '2025-01-01', got {start!r}")
    return begin


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One index per row of `probs` (rows are distributions), drawn by inverse CDF."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]
    return (u > cdf).sum(axis=1)


def _times(
    rng: np.random.Generator, n: int, start: pd.Timestamp, days: int, scenario: str
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Pickup day index, fractional hour and the calendar; winter keeps Dec-Feb days if any."""
    calendar = pd.date_range(start, periods=days, freq="D")
    weight = WEEKDAY_WEIGHT[calendar.weekday]
    if scenario == "winter" and calendar.month.isin([12, 1, 2]).any():
        weight = weight * calendar.month.isin([12, 1, 2])
    day = rng.choice(days, size=n, p=weight / weight.sum())
    hour = rng.choice(24, size=n, p=HOUR_WEIGHT / HOUR_WEIGHT.sum()) + rng.random(n)
    return day, hour, calendar


def _season(calendar: pd.DatetimeIndex) -> np.ndarray:
    """Winterness per day: 1 in mid-January, 0 in mid-July (northern hemisphere)."""
    return (1 + np.cos(2 * np.pi * (calendar.dayofyear.to_numpy() - 15) / 365.25)) / 2


def _weather(
    rng: np.random.Generator, slot: tuple[np.ndarray, ...], winter: np.ndarray, harsh: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Temperature, precipitation and label: a regional weather a day, showers per depot-hour."""
    day, hour = slot[0], slot[2]
    days, n = len(winter), len(day)
    temp_day = 22 - 24 * winter + rng.normal(0, 4, days) - WINTER_COLDER_C * harsh
    wetness = rng.beta(3, 6, days) * (1.0 + 0.4 * winter)  # chance of a shower that day
    storm_chance = (0.015 + 0.015 * winter) * (WINTER_STORM_FACTOR if harsh else 1)
    shape = (days, len(DEPOTS), 24)
    storm = rng.random(shape) < storm_chance[:, None, None]  # a thunderstorm over a depot's area
    shower = rng.random(shape) < wetness[:, None, None]
    amount = shower * rng.gamma(0.9, 4 + 3 * winter)[:, None, None] * rng.gamma(1.5, 1 / 1.5, shape)
    amount = amount[slot] + storm[slot] * rng.gamma(3, 8, n)
    precip = amount * rng.lognormal(0, 0.3, n) * (WINTER_PRECIP_FACTOR if harsh else 1)
    temp = temp_day[day] + 3 * np.sin(np.pi * (hour - 9) / 12) + rng.normal(0, 1.5, n)
    cloudy = rng.random(n) < 0.35 + 0.25 * winter[day]
    label = np.where(precip > 0.2, np.where(temp < 0.5, 3, 2), cloudy.astype(int))
    label = np.where(storm[slot], 4, label)
    return np.clip(temp, -40, 50), np.clip(precip, 0, 120), np.asarray(WEATHERS)[label]


def _depot_load(
    rng: np.random.Generator,
    slot: tuple[np.ndarray, ...],
    calendar: pd.DatetimeIndex,
    backlog: bool,
) -> np.ndarray:
    """Parcels/capacity: weekly rhythm, pre-holiday spike, depot-day and sorting-wave noise."""
    doy, weekday = calendar.dayofyear.to_numpy(), calendar.weekday.to_numpy()
    holiday = np.clip((doy - 324) / 30, 0, 1) * (doy < 360)  # ramps from ~20 Nov to 24 Dec
    returns = np.clip((20 - doy) / 20, 0, 1)  # January returns backlog
    network = LOAD_BASE + 0.1 * (weekday == 0) + HOLIDAY_PEAK * holiday + 0.2 * returns
    network = network + rng.normal(0, LOAD_SD / 2, len(calendar))
    depot_day = rng.normal(0, LOAD_SD / 2, (len(calendar), len(DEPOTS)))
    wave = rng.normal(0, LOAD_SD, (len(calendar), len(DEPOTS), 24))
    wave = wave + SURGE * (rng.random(wave.shape) < SURGE_SHARE)
    load = network[slot[0]] + depot_day[slot[:2]] + wave[slot] + BACKLOG_SHIFT * backlog
    return np.clip(load + rng.normal(0, 0.03, len(slot[0])), 0, 3)


def _parcels(
    rng: np.random.Generator, depot: np.ndarray, area: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (by area; R3 longer), weight and a volume that grows with weight."""
    median = DISTANCE_MEDIAN_KM[area] * np.where(depot == DEPOTS.index("R3"), R3_DISTANCE_FACTOR, 1)
    distance = rng.lognormal(np.log(median), 0.75)
    weight = rng.lognormal(np.log(2.0), 1.0, len(depot))
    volume = weight * rng.lognormal(np.log(4.0), 0.5, len(depot))
    return np.clip(distance, 0.1, 500), np.clip(weight, 0.01, 50), np.clip(volume, 0.05, 400)


def _traffic(
    rng: np.random.Generator, hour: np.ndarray, weekend: np.ndarray, area: np.ndarray
) -> np.ndarray:
    """Traffic index: busier in towns and at the morning and evening rush, calmer at weekends."""
    rush = np.exp(-((hour - 8.5) ** 2) / 2) + np.exp(-((hour - 17.5) ** 2) / 2)
    traffic = np.array([0.45, 0.3, 0.15])[area] + 0.35 * rush * (1 - 0.4 * weekend)
    return np.clip(traffic + rng.normal(0, 0.1, len(hour)) - 0.1 * weekend, 0, 1)


def delay_logit(frame: pd.DataFrame, scenario: str) -> np.ndarray:
    """Log-odds that each delivery is delayed; never reads ids, customer or postcode.

    Args:
        frame: Deliveries with the generator's feature columns.
        scenario: One of `SCENARIOS`; only `carrier_change` alters the mechanism.

    Returns:
        The logit per row, non-decreasing in precip, load, traffic and distance.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {list(SCENARIOS)}, got {scenario!r}")
    carrier = dict(CARRIER_EFFECT, swiftship=SWIFTSHIP_DRIFT * (scenario == "carrier_change"))
    hour, weekday = frame["pickup_time"].dt.hour, frame["pickup_time"].dt.weekday
    load = frame["depot_load"].to_numpy()
    disruption = (
        PRECIP_EFFECT * np.clip(frame["precip_mm"].to_numpy() - PRECIP_FREE_MM, 0, PRECIP_CAP_MM)
        + frame["weather"].map(WEATHER_EFFECT).fillna(0).to_numpy()
        + OVERLOAD_EFFECT * np.clip(load - 1.0, 0, OVERLOAD_CAP)
    )
    logit = (
        INTERCEPT
        + np.minimum(disruption, DISRUPTION_CAP)
        + DISTANCE_EFFECT * np.log1p(frame["distance_km"].to_numpy() / 20)
        + TRAFFIC_EFFECT * frame["traffic_index"].to_numpy()
        + LOAD_EFFECT * load
        + frame["area_type"].map(AREA_EFFECT).fillna(0).to_numpy()
        + frame["service_tier"].map(TIER_EFFECT).fillna(0).to_numpy()
        + SIZE_EFFECT * np.log1p(frame["weight_kg"].to_numpy())
        + SIZE_EFFECT * np.log1p(frame["volume_l"].to_numpy() / 20) / 2
        + frame["carrier"].map(carrier).fillna(0).to_numpy()
        + LATE_PICKUP_EFFECT * ((hour >= 18) + 0.5 * ((hour >= 16) & (hour < 18))).to_numpy()
        + WEEKEND_EFFECT * (weekday >= 5).to_numpy()
    )
    return np.asarray(logit, dtype="float64")


def generate_deliveries(
    rows: int, seed: int, start: str = "2025-01-01", days: int = 365, scenario: str = "none"
) -> pd.DataFrame:
    """Synthetic deliveries over `days` days from `start`, one row each, sorted by pickup time.

    Args:
        rows: Number of deliveries (> 0).
        seed: Seed of the only random generator used; same arguments, same frame.
        start: First day of the window (a date).
        days: Length of the window in days (> 0).
        scenario: Drift to apply, one of `SCENARIOS`.

    Returns:
        The deliveries with features, `true_delay_prob` and the drawn `delayed` (0/1).

    Raises:
        ValueError: An argument is out of range or the scenario is unknown.
    """
    begin = _checked_start(rows, seed, start, days, scenario)
    rng, n = np.random.default_rng(seed), rows
    day, hour, calendar = _times(rng, n, begin, days, scenario)

    share = DEPOT_SHARE
    if scenario == "rural_depot":
        share = np.append(share[:-1] * (1 - R3_SHARE_RURAL_DEPOT) / share[:-1].sum(), 0)
        share[-1] = R3_SHARE_RURAL_DEPOT
    depot = rng.choice(len(DEPOTS), size=n, p=share)
    area = _pick(rng, AREA_BY_DEPOT[depot])

    slot = (day, depot, hour.astype(int))  # the depot's sorting wave that handles the parcel
    temp, precip, weather = _weather(rng, slot, _season(calendar), scenario == "winter")
    load = _depot_load(rng, slot, calendar, scenario == "holiday_backlog")
    distance, weight, volume = _parcels(rng, depot, area)
    traffic = _traffic(rng, hour, calendar.weekday.to_numpy()[day] >= 5, area)

    customers = max(1, round(n / (6.0 if scenario == "holiday_backlog" else 2.6)))
    seconds = (day * 86_400 + hour * 3_600).astype("int64")
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{c:07d}" for c in (customers * rng.beta(0.8, 1.0, n)).astype(int)],
            "pickup_time": begin.to_datetime64() + seconds.astype("timedelta64[s]"),
            "distance_km": distance,
            "weight_kg": weight,
            "volume_l": volume,
            "precip_mm": precip,
            "temperature_c": temp,
            "weather": weather,
            "traffic_index": traffic,
            "depot_load": load,
            "service_tier": np.asarray(TIERS)[rng.choice(3, size=n, p=TIER_SHARE)],
            "depot": np.asarray(DEPOTS)[depot],
            "area_type": np.asarray(AREAS)[area],
            "carrier": np.asarray(CARRIERS)[_pick(rng, CARRIER_BY_AREA[area])],
            "dest_postcode": [f"{p:05d}" for p in rng.integers(1_000, 100_000, n).tolist()],
        }
    )
    frame["pickup_time"] = frame["pickup_time"].astype("datetime64[ns]")
    order = np.argsort(frame["pickup_time"].to_numpy(), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    prob = np.clip(1 / (1 + np.exp(-delay_logit(frame, scenario))), 1e-6, 1 - 1e-6)
    frame.insert(0, "delivery_id", [f"DLV{seed % 1000:03d}{i:09d}" for i in range(n)])
    frame["true_delay_prob"] = prob
    frame["delayed"] = (rng.random(n) < prob).astype("int64")
    return frame
