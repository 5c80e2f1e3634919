"""Synthetic geocoded firms with a known data-generating process (DGP).

:func:`make_firms` draws ``n`` technology firms on real US geography and gives each
one attributes and outcomes whose true parameters are returned in
``frame.attrs["truth"]``, so that estimators (cluster detection, exposure measures,
spatial regressions by innovator type) can be checked for recovery.

The steps, in order (all random draws come from one ``numpy`` Generator made once
from ``seed``):

1. **Industries.** Five technology industries with readable names and a NAICS code
   (:data:`INDUSTRIES`): ``software`` (5112), ``semiconductors`` (3344), ``pharma``
   (3254), ``instruments`` (3345, incl. electromedical devices) and ``rnd_services``
   (5417). Each firm's industry is drawn with the industry shares (the default mix,
   or the ``industries=`` argument renormalised).
2. **Locations.** Firms sit on the internal points of the contiguous-US ZIP Code
   Tabulation Areas (:func:`geocluster.datasets.load_zcta`; the 48 states and DC).
   Each ZCTA is given to a county by point-in-polygon (the few points off the
   quantised county outlines go to the nearest county, all within 10 km). The
   *general activity* weight of a ZCTA is ``(1 - b) * P_c / (Z_c * sum P) + b / Z``:
   its county's utility patents 2011-2015 (:func:`geocluster.datasets.load_patents`)
   ``P_c`` spread evenly over the county's ``Z_c`` ZCTAs, plus a uniform background
   share ``b = 0.25`` over all ``Z`` ZCTAs, so rural places also get firms.
   On top of that every industry has *planted* clusters at real technology hubs
   (:data:`INDUSTRIES` lists them with centre, radius and name): each firm is
   planted with probability ``hub_share`` (default 0.35) at one of its industry's
   hubs (chosen with equal probability), on a ZCTA within the hub's radius drawn in
   proportion to the general weight; the other firms take a ZCTA from the general
   weights. The column ``planted_hub`` names the hub (missing for the others).
3. **Jitter.** Each firm is moved away from its ZCTA point by an independent
   Gaussian displacement with standard deviation 500 m along each axis
   (``JITTER_SD_M``; converted to degrees with the local scale
   ``111,320 m * cos(lat)`` per degree of longitude and 111,320 m per degree of
   latitude), so no two firms share coordinates and ``knn`` weights need no tie
   policy. Exact duplicates (probability zero) are redrawn.
4. **Firm attributes.** ``age`` (years) = ``1 + floor(Gamma(2, 7))``;
   ``employees`` = ``max(1, round(exp(2.6 + 0.025 age + 1.6 z)))``, ``z`` standard
   normal (median about 19, about 2 per cent above 500); ``patents_5y`` (patents in the
   last five years) is negative binomial (a Gamma-Poisson mixture, NB2 dispersion
   1.2) with mean ``exp(0.6 log(employees) + tech_industry)``: it rises with size
   and with the industry's technology intensity (``tech`` in :data:`INDUSTRIES`).
   No attribute depends on the location, so ``cluster`` is exogenous in the DGP.
5. **Innovator type** (SBA Office of Advocacy / CHI Research definition of a serial
   innovator, as used by Libaers & Meyer 2011): ``serial`` if ``patents_5y >= 15``
   *and* ``employees <= 500``; ``large`` if ``employees > 500``; ``non-serial`` for the
   other (small) firms. ``serial`` is the 0/1 integer column (large firms have 0).
   About 20 per cent of the small firms are serial innovators.
6. **Clustering.** ``cluster_count`` is the number of *other* firms of the same
   industry whose ZCTA point lies within ``cluster_radius`` (distance ``<=``) of the
   firm's ZCTA point, measured in EPSG:5070 (Conus Albers, the CRS
   :func:`geocluster.to_metric` picks for US data). It is measured on the ZCTA points
   (the firms' ZIP locations, before the 500 m jitter) because that makes it exact and
   linear in ``n`` at a million firms (an exact count on the jittered points costs
   minutes there, because hub firms have tens of thousands of neighbours). Only firm
   pairs whose ZCTA points are within a few kilometres of the radius can be counted
   differently from a count on the jittered points: at n = 5,000,
   ``gc.exposure(firms, method="count", radius="25km", industry="industry")`` gives the
   same count for 65 per cent of the firms, and its log correlates 0.999 with
   ``cluster``. ``cluster`` = ``log(1 + cluster_count)``
   standardised to mean 0 and standard deviation 1 (population sd, ``ddof=0``, over the
   sample; ``truth["cluster"]`` keeps the mean and sd).
7. **Internationalisation** ``intl`` follows a spatial-lag (SAR) DGP::

       intl = rho * W intl + X beta + eps,   eps ~ N(0, sigma^2) iid

   with ``W`` the row-standardised ``weights`` graph of the firms (default
   ``"knn:8"``, which equals ``gc.weights(frame, "knn:8")``: the same nearest
   neighbours in :func:`geocluster.to_metric`'s CRS; built directly with a
   ``scipy`` KD-tree for speed) and ``X`` the model matrix of
   ``intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age``.
   ``beta=`` (a partial mapping of these term names) and ``sigma=`` (default 1) change
   the truth, e.g. to plant no effect at all. The default ``beta`` gives non-serial firms (small non-serial and large firms)
   decreasing returns to clustering, ``0.5 cluster - 0.25 cluster^2`` (an inverted U
   with its top at ``cluster = 1``, one sd above the mean), and serial innovators
   larger gains, ``1.1 cluster - 0.15 cluster^2`` (top at ``cluster = 3.67``, beyond the
   observed range: the maximum of ``cluster`` is about 2.5 at n = 100, 1.5 at n = 5,000
   and 1.35 at n = 1,000,000, while about 22 per cent of firms lie above 1 at any n;
   the serial slope exceeds the non-serial one wherever ``cluster > -3``, i.e. over the
   whole observed range). ``y = (I - rho W)^-1 (X beta + eps)`` is solved by the fixed-point
   (Neumann series) iteration ``y <- X beta + eps + rho W y``, which converges because
   ``W`` is row-stochastic and ``|rho| < 1``; it stops when the update is below
   ``1e-13`` times the scale of the right-hand side, so the DGP identity holds to
   about ``1e-12``.
8. **Secondary outcomes** (no spatial dependence; the same regressors):
   ``foreign_markets`` (number of foreign markets served) is negative binomial (NB2,
   Gamma-Poisson, ``var = mu + alpha mu^2``) with mean ``exp(X gamma)`` and
   ``alpha = 0.5``; ``export_share`` in [0, 1] is Beta distributed with mean
   ``expit(X delta)`` and precision ``phi = 10`` (so a fractional logit recovers
   ``delta``). Both show the
   same pattern on their link scale: an inverted U in ``cluster`` with its top at 1 for
   non-serial firms and larger gains without a turning point in range (top at 4.375)
   for serial innovators.

``frame.attrs["truth"]`` is a plain JSON-serialisable dict with the formula, the
true parameters of every outcome, the turning points, the cluster definition, the
planted hubs, the serial-innovator definition and the seed used.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
from scipy import sparse
from scipy.spatial import cKDTree

from geocluster.datasets.bundled import (
    CONUS_EXCLUDED_STATES,
    load_counties,
    load_patents,
    load_zcta,
)
from geocluster.errors import InputError
from geocluster.units import auto_metric_crs, parse_distance
from geocluster.weights import weights as build_weights

__all__ = ["make_firms", "INDUSTRIES", "DEFAULT_BETA", "JITTER_SD_M"]

#: Standard deviation (metres, per axis) of the Gaussian jitter around the ZCTA point.
JITTER_SD_M = 500.0
#: Share of the general location weights spread uniformly over all ZCTAs.
BACKGROUND_SHARE = 0.25
#: Serial innovator thresholds (SBA Office of Advocacy / CHI Research).
SERIAL_MIN_PATENTS = 15
SERIAL_MAX_EMPLOYEES = 500

_METERS_PER_DEGREE = 111_320.0
_ZCTA_CRS = "EPSG:5070"
_PATENT_YEARS = (2011, 2015)

# hubs: (name, lon, lat, radius_km)
#: The industries, their NAICS code, default share of firms, technology intensity
#: (added to the log of the expected patent count) and planted hubs.
INDUSTRIES: dict[str, dict] = {
    "software": {
        "naics": "5112",
        "title": "Software publishers",
        "share": 0.30,
        "tech": -0.2,
        "hubs": [
            ("Seattle", -122.335, 47.608, 40.0),
            ("San Francisco", -122.419, 37.775, 40.0),
            ("Austin", -97.743, 30.267, 40.0),
        ],
    },
    "semiconductors": {
        "naics": "3344",
        "title": "Semiconductor and other electronic component manufacturing",
        "share": 0.15,
        "tech": 0.6,
        "hubs": [
            ("San Jose", -121.886, 37.338, 40.0),
            ("Austin", -97.743, 30.267, 40.0),
            ("Phoenix", -111.940, 33.415, 40.0),
            ("Portland (Hillsboro)", -122.990, 45.523, 40.0),
        ],
    },
    "pharma": {
        "naics": "3254",
        "title": "Pharmaceutical and medicine manufacturing",
        "share": 0.15,
        "tech": 0.4,
        "hubs": [
            ("Boston-Cambridge", -71.106, 42.373, 40.0),
            ("New Jersey (New Brunswick-Princeton)", -74.550, 40.420, 40.0),
            ("San Diego", -117.230, 32.880, 40.0),
            ("Research Triangle", -78.860, 35.900, 40.0),
        ],
    },
    "instruments": {
        "naics": "3345",
        "title": "Navigational, measuring, electromedical and control instruments",
        "share": 0.20,
        "tech": 0.3,
        "hubs": [
            ("Minneapolis-St. Paul", -93.265, 44.978, 40.0),
            ("Boston", -71.059, 42.360, 40.0),
            ("Orange County", -117.830, 33.680, 40.0),
        ],
    },
    "rnd_services": {
        "naics": "5417",
        "title": "Scientific research and development services",
        "share": 0.20,
        "tech": 0.1,
        "hubs": [
            ("Washington DC", -77.037, 38.907, 35.0),
            ("Baltimore", -76.612, 39.290, 35.0),
            ("Boston", -71.059, 42.360, 40.0),
        ],
    },
}

FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
_TERMS = (
    "Intercept",
    "serial",
    "cluster",
    "I(cluster ** 2)",
    "np.log(employees)",
    "age",
    "serial:cluster",
    "serial:I(cluster ** 2)",
)
#: True coefficients of ``intl`` (keys: the term names formulaic gives ``FORMULA``).
DEFAULT_BETA = {
    "Intercept": 0.5,
    "serial": 0.6,
    "cluster": 0.5,
    "I(cluster ** 2)": -0.25,
    "np.log(employees)": 0.3,
    "age": 0.01,
    "serial:cluster": 0.6,
    "serial:I(cluster ** 2)": 0.10,
}
_GAMMA = {  # foreign_markets, log link
    "Intercept": 0.2,
    "serial": 0.4,
    "cluster": 0.3,
    "I(cluster ** 2)": -0.15,
    "np.log(employees)": 0.15,
    "age": 0.005,
    "serial:cluster": 0.4,
    "serial:I(cluster ** 2)": 0.07,
}
_NB_ALPHA = 0.5
_DELTA = {  # export_share, logit link
    "Intercept": -1.5,
    "serial": 0.5,
    "cluster": 0.3,
    "I(cluster ** 2)": -0.15,
    "np.log(employees)": 0.1,
    "age": 0.0,
    "serial:cluster": 0.4,
    "serial:I(cluster ** 2)": 0.07,
}
_BETA_PHI = 10.0

# firm attributes
_AGE_GAMMA = (2.0, 7.0)
_LOG_EMP = (2.6, 0.025, 1.6)  # intercept, age slope, sd
_PATENT_LOGMEAN = (0.0, 0.6)  # intercept, log(employees) slope
_PATENT_ALPHA = 1.2

_KNN_RE = re.compile(r"^knn:(\d+)$")


def make_firms(
    n: int = 5000,
    *,
    seed: int | np.random.Generator | None = None,
    industries: Sequence[str] | Mapping[str, float] | None = None,
    rho: float = 0.4,
    weights: str = "knn:8",
    cluster_radius: str | float = "25km",
    hub_share: float = 0.35,
    beta: Mapping[str, float] | None = None,
    sigma: float = 1.0,
) -> gpd.GeoDataFrame:
    """Synthetic technology firms on real US ZIP areas, with known true parameters.

    The data-generating process is described step by step in the module docstring
    of ``geocluster.datasets.synthetic`` (also in ``frame.attrs["truth"]``); in short: firms
    sit on contiguous-US ZCTA points in proportion to their county's patenting, with
    planted concentrations at real technology hubs per industry, jittered by 500 m;
    a firm is a *serial innovator* if it has at least 15 patents in five years and at
    most 500 employees (SBA / CHI Research); ``intl`` follows the spatial-lag model
    ``intl = rho W intl + X beta + eps`` in which clustering raises
    internationalisation with decreasing returns for non-serial firms and stronger
    gains for serial innovators.

    Parameters
    ----------
    n
        Number of firms; at least K + 1 for ``weights="knn:K"`` (9 for the default).
    seed
        Integer seed or ``numpy`` Generator; the same integer gives the same frame.
        With ``None`` a fresh seed is drawn and recorded in ``attrs["truth"]["seed"]``.
    industries
        Names from :data:`INDUSTRIES` to use (with their default shares,
        renormalised), or a mapping ``{name: share}``. Default: all five.
    rho
        Spatial autoregressive parameter of ``intl``; ``-1 < rho < 1``.
    weights
        Weights specification of the lag DGP, row-standardised: ``"knn:K"`` (fast
        path) or any other :func:`geocluster.weights` specification.
    cluster_radius
        Radius of the same-industry neighbour count behind ``cluster`` (``"25km"``,
        ``"10 km"``, or metres).
    hub_share
        Probability that a firm is planted at one of its industry's hubs (0 to 1).
    beta
        Coefficients of ``intl`` to change, keyed by term name (see
        :data:`DEFAULT_BETA`), e.g. ``{"cluster": 0.0, "I(cluster ** 2)": 0.0}`` for
        no effect of clustering on non-serial firms; unnamed terms keep their default.
    sigma
        Standard deviation of the errors of ``intl`` (positive).

    Returns
    -------
    GeoDataFrame
        One row per firm in EPSG:4326, indexed by ``firm_id`` (``"F000001"``, ...;
        also a column), with columns ``industry``, ``naics``, ``zcta``, ``fips``
        (county), ``lon``, ``lat``, ``employees``, ``age``, ``patents_5y``,
        ``serial`` (0/1), ``innovator_type`` (``"serial"``, ``"non-serial"``,
        ``"large"``), ``cluster_count``, ``cluster``, ``intl``, ``foreign_markets``,
        ``export_share``, ``planted_hub`` and point ``geometry``.
        ``attrs["truth"]`` holds the true parameters (a JSON-serialisable dict).

    Raises
    ------
    InputError
        For a non-integer or too small ``n``, ``|rho| >= 1``, an unknown industry,
        a bad ``hub_share``, ``beta`` or ``sigma``, or an unusable ``weights`` /
        ``cluster_radius``.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(300, seed=1)
    >>> firms.shape, firms.crs.to_epsg()
    ((300, 19), 4326)
    >>> firms.index[:2].tolist()
    ['F000001', 'F000002']
    >>> sorted(firms["innovator_type"].unique().tolist())
    ['large', 'non-serial', 'serial']
    >>> truth = firms.attrs["truth"]
    >>> truth["formula"]
    'intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age'
    >>> truth["rho"], truth["beta"]["cluster"], truth["turning_point_nonserial"]
    (0.4, 0.5, 1.0)
    """
    frame, _ = _simulate(
        n,
        seed=seed,
        industries=industries,
        rho=rho,
        weights=weights,
        cluster_radius=cluster_radius,
        hub_share=hub_share,
        beta=beta,
        sigma=sigma,
    )
    return frame


# ----------------------------------------------------------------------------- validation


def _check_n(n, k_min: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        if isinstance(n, float) and float(n).is_integer():
            n = int(n)
        else:
            raise InputError(f"n={n!r} must be a whole number of firms, e.g. n=5000.")
    n = int(n)
    if n < 1:
        raise InputError(f"n={n} must be at least 1.")
    if n < k_min:
        raise InputError(
            f"n={n} is too small for the weights of the lag DGP: they need at least "
            f"{k_min} firms. Use a larger n or fewer neighbours (e.g. weights='knn:4')."
        )
    return n


def _check_industries(industries) -> dict[str, float]:
    valid = list(INDUSTRIES)
    if industries is None:
        chosen = {name: INDUSTRIES[name]["share"] for name in valid}
    elif isinstance(industries, str):
        raise InputError(
            f"industries={industries!r} must be a list of names or a mapping "
            f"{{name: share}}, e.g. industries=['{industries}']; choose from {valid}."
        )
    elif isinstance(industries, Mapping):
        chosen = dict(industries)
    else:
        try:
            names = list(industries)
            hash(tuple(names))
        except TypeError:
            raise InputError(
                f"industries={industries!r} must be a list of industry names or a mapping "
                f"{{name: share}}; choose from {valid}."
            ) from None
        if len(set(names)) != len(names):
            raise InputError(f"industries={names!r} names an industry twice.")
        chosen = {name: INDUSTRIES.get(name, {}).get("share", np.nan) for name in names}
    unknown = [name for name in chosen if name not in INDUSTRIES]
    if unknown:
        raise InputError(f"unknown industry {unknown[0]!r}; choose from {valid}.")
    if not chosen:
        raise InputError(f"industries is empty; choose one or more of {valid}.")
    try:
        shares = np.array([float(chosen[name]) for name in chosen])
    except (TypeError, ValueError):
        shares = np.array([np.nan])
    if not np.all(np.isfinite(shares)) or np.any(shares < 0) or shares.sum() <= 0:
        raise InputError(
            f"industry shares {chosen} must be non-negative numbers with a positive sum."
        )
    return {name: float(share / shares.sum()) for name, share in zip(chosen, shares, strict=True)}


def _check_rho(rho) -> float:
    if isinstance(rho, bool) or not isinstance(rho, numbers.Real) or not np.isfinite(rho):
        raise InputError(f"rho={rho!r} must be a number strictly between -1 and 1.")
    if abs(rho) >= 1:
        raise InputError(
            f"rho={rho!r} must lie strictly between -1 and 1 for the spatial-lag DGP "
            "to be stationary (I - rho W invertible); e.g. rho=0.4."
        )
    return float(rho)


def _check_hub_share(hub_share) -> float:
    if (
        isinstance(hub_share, bool)
        or not isinstance(hub_share, numbers.Real)
        or not 0 <= hub_share <= 1
    ):
        raise InputError(f"hub_share={hub_share!r} must be a number between 0 and 1.")
    return float(hub_share)


def _check_beta(beta) -> dict[str, float]:
    if beta is None:
        return dict(DEFAULT_BETA)
    if not isinstance(beta, Mapping):
        raise InputError(
            f"beta={beta!r} must be a mapping {{term: coefficient}} with terms from {list(_TERMS)}."
        )
    unknown = [term for term in beta if term not in DEFAULT_BETA]
    if unknown:
        raise InputError(
            f"beta has unknown term {unknown[0]!r}; the terms of the formula are {list(_TERMS)}."
        )
    merged = dict(DEFAULT_BETA)
    for term, value in beta.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise InputError(f"beta[{term!r}]={value!r} must be a finite number.")
        merged[term] = float(value)
    return merged


def _check_sigma(sigma) -> float:
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not np.isfinite(sigma)
        or sigma <= 0
    ):
        raise InputError(f"sigma={sigma!r} must be a positive, finite number.")
    return float(sigma)


def _weights_k(weights) -> int | None:
    if not isinstance(weights, str):
        raise InputError(f"weights={weights!r} must be a specification string such as 'knn:8'.")
    match = _KNN_RE.match(weights.strip().lower())
    if match:
        k = int(match.group(1))
        if k < 1:
            raise InputError(f"weights={weights!r}: K must be at least 1.")
        return k
    return None


def _seed_rng(seed) -> tuple[np.random.Generator, int | None]:
    if isinstance(seed, np.random.Generator):
        return seed, None
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputError(
            f"seed={seed!r} must be a non-negative integer, a numpy Generator or None."
        )
    return np.random.default_rng(int(seed)), int(seed)


# ----------------------------------------------------------------------------- geography


@functools.lru_cache(maxsize=1)
def _zcta_table() -> pd.DataFrame:
    """Contiguous-US ZCTA points with county, metric x/y and general activity weight."""
    zcta = load_zcta()
    counties = load_counties("all")[["fips", "geometry"]]
    joined = gpd.sjoin(zcta, counties, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    fips = joined["fips"].copy()
    missing = fips.isna()
    if missing.any():
        near = gpd.sjoin_nearest(
            zcta.loc[missing[missing].index].to_crs(_ZCTA_CRS),
            counties.to_crs(_ZCTA_CRS),
            how="left",
            max_distance=10_000.0,
        )
        near = near[~near.index.duplicated(keep="first")]
        fips.loc[near.index] = near["fips"]
    table = pd.DataFrame(
        {
            "zcta": zcta["zcta"].to_numpy(),
            "lon": zcta["lon"].to_numpy(dtype=float),
            "lat": zcta["lat"].to_numpy(dtype=float),
            "fips": fips.reindex(zcta.index).to_numpy(dtype=object),
        }
    )
    table = table[table["fips"].notna()]
    table = table[~table["fips"].str[:2].isin(CONUS_EXCLUDED_STATES)]
    table = table.sort_values("zcta").reset_index(drop=True)
    table["fips"] = table["fips"].astype(str)

    x, y = _transformer(_ZCTA_CRS).transform(table["lon"].to_numpy(), table["lat"].to_numpy())
    table["x"], table["y"] = np.asarray(x), np.asarray(y)

    patents = load_patents(years=_PATENT_YEARS).groupby("fips")["patents"].sum()
    county_pat = table["fips"].map(patents).fillna(0.0).to_numpy(dtype=float)
    zctas_in_county = table.groupby("fips")["zcta"].transform("size").to_numpy(dtype=float)
    spread = county_pat / zctas_in_county
    weight = (1 - BACKGROUND_SHARE) * spread / spread.sum() + BACKGROUND_SHARE / len(table)
    table["weight"] = weight / weight.sum()
    return table


@functools.lru_cache(maxsize=16)
def _transformer(target: pyproj.CRS | str) -> pyproj.Transformer:
    """lon/lat -> ``target`` (building a Transformer costs tens of milliseconds)."""
    return pyproj.Transformer.from_crs("EPSG:4326", target, always_xy=True)


@functools.lru_cache(maxsize=64)
def _hub_zctas(lon: float, lat: float, radius_km: float) -> np.ndarray:
    """Rows of :func:`_zcta_table` whose point is within ``radius_km`` of the hub centre."""
    table = _zcta_table()
    hx, hy = _transformer(_ZCTA_CRS).transform(lon, lat)
    dist = np.hypot(table["x"].to_numpy() - hx, table["y"].to_numpy() - hy)
    rows = np.flatnonzero(dist <= radius_km * 1000.0)
    rows.flags.writeable = False
    return rows


def _draw_locations(rng, table, industry_codes, names, hub_share):
    """ZCTA row (into ``table``), planted hub code (-1: none) and the hub labels."""
    n = len(industry_codes)
    general_p = table["weight"].to_numpy()
    cdf = np.cumsum(general_p)
    cdf /= cdf[-1]
    zi = np.searchsorted(cdf, rng.random(n), side="right")
    hub_code = np.full(n, -1, dtype=np.int64)
    hub_names: list[str] = []
    planted = rng.random(n) < hub_share
    hub_pick = rng.random(n)
    hub_u = rng.random(n)
    for code, name in enumerate(names):
        hubs = INDUSTRIES[name]["hubs"]
        members = np.flatnonzero(planted & (industry_codes == code))
        if members.size == 0:
            continue
        which = np.minimum((hub_pick[members] * len(hubs)).astype(int), len(hubs) - 1)
        for h, (hub_name, lon, lat, radius_km) in enumerate(hubs):
            rows = members[which == h]
            if rows.size == 0:
                continue
            cand = _hub_zctas(lon, lat, radius_km)
            p = np.cumsum(general_p[cand])
            p /= p[-1]
            zi[rows] = cand[np.searchsorted(p, hub_u[rows], side="right")]
            if hub_name not in hub_names:
                hub_names.append(hub_name)
            hub_code[rows] = hub_names.index(hub_name)
    return zi, hub_code, hub_names


def _jitter(rng, lon, lat):
    n = len(lon)
    dx = rng.normal(0.0, JITTER_SD_M, n)
    dy = rng.normal(0.0, JITTER_SD_M, n)
    jlon = lon + dx / (_METERS_PER_DEGREE * np.cos(np.radians(lat)))
    jlat = lat + dy / _METERS_PER_DEGREE
    for _ in range(100):  # exact duplicates have probability zero; redraw them if any
        dup = _duplicated(jlon, jlat)
        if not dup.any():
            break
        k = int(dup.sum())
        jlon[dup] = lon[dup] + rng.normal(0.0, JITTER_SD_M, k) / (
            _METERS_PER_DEGREE * np.cos(np.radians(lat[dup]))
        )
        jlat[dup] = lat[dup] + rng.normal(0.0, JITTER_SD_M, k) / _METERS_PER_DEGREE
    return jlon, jlat


def _duplicated(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for every point that repeats an earlier one (as ``DataFrame.duplicated``)."""
    order = np.argsort(x, kind="stable")
    same_x = np.flatnonzero(np.diff(x[order]) == 0)
    dup = np.zeros(len(x), dtype=bool)
    if same_x.size:
        cand = np.unique(np.concatenate([order[same_x], order[same_x + 1]]))
        dup[cand] = pd.DataFrame({"x": x[cand], "y": y[cand]}).duplicated().to_numpy()
    return dup


def _str_array(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas string array (missing where ``codes < 0``), fast."""
    codes = np.asarray(codes)
    taken = pa.array([str(v) for v in labels], type=pa.string()).take(
        pa.array(codes, mask=codes < 0)
    )
    return pd.array(taken, dtype="str")


# ----------------------------------------------------------------------------- clustering


def _cluster_counts(table, zi, industry_codes, n_industries, radius_m) -> np.ndarray:
    """Other same-industry firms whose ZCTA point is within ``radius_m`` (<=)."""
    used, local = np.unique(zi, return_inverse=True)
    xy = table[["x", "y"]].to_numpy()[used]
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    m = len(used)
    rows = np.concatenate([pairs[:, 0], pairs[:, 1], np.arange(m)])
    cols = np.concatenate([pairs[:, 1], pairs[:, 0], np.arange(m)])
    adjacency = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    firms_at = sparse.csr_array(
        (np.ones(len(zi)), (local, industry_codes)), shape=(m, n_industries)
    ).toarray()
    within = adjacency @ firms_at
    return np.rint(within[local, industry_codes]).astype(np.int64) - 1


# ----------------------------------------------------------------------------- weights, DGP


def _knn(xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the k nearest other points (rows in input order) and the tree order.

    Points are queried in the KD-tree's own (spatially sorted) order, which is 3-5x
    faster at a million points than querying in input order; the result is the same.
    """
    n = len(xy)
    tree = cKDTree(xy)
    order = np.asarray(tree.indices)
    _, idx_sorted = tree.query(xy[order], k=k + 1)
    idx = np.empty_like(idx_sorted)
    idx[order] = idx_sorted
    if not np.array_equal(idx[:, 0], np.arange(n)):  # pragma: no cover - duplicates excluded
        raise RuntimeError("internal error: a firm is not its own nearest neighbour.")
    return idx[:, 1:], order


def _metric_xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Coordinates in the CRS :func:`geocluster.to_metric` picks for these points."""
    x, y = _transformer(auto_metric_crs(lon, lat)).transform(lon, lat)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])


class _Lag:
    """Row-standardised weights of the lag DGP: the sparse ``W`` and a fast ``W @ y``."""

    def __init__(self, lon, lat, geometry, index, spec: str, k: int | None):
        n = len(lon)
        if k is not None:
            idx, order = _knn(_metric_xy(lon, lat), k)
            inverse = np.empty(n, dtype=np.int64)
            inverse[order] = np.arange(n)
            self.order = order
            self._idx_sorted = inverse[idx[order]]  # neighbours in tree order
            self.W = sparse.csr_array(
                (np.full(n * k, 1.0 / k), (np.repeat(np.arange(n), k), idx.ravel())),
                shape=(n, n),
            )
        else:
            frame = gpd.GeoDataFrame(geometry=geometry, index=index)
            try:
                graph = build_weights(frame, spec, transform="r")
            except ValueError as exc:
                raise InputError(f"weights={spec!r} cannot be built for the firms: {exc}") from None
            self.order = None
            self.W = sparse.csr_array(graph.sparse)

    def solve(self, rho: float, rhs: np.ndarray) -> np.ndarray:
        """Solve (I - rho W) y = rhs by the Neumann fixed point y <- rhs + rho W y."""
        if self.order is None:
            b = rhs
            lag = self.W.__matmul__
        else:
            b = rhs[self.order]
            idx = self._idx_sorted

            def lag(v):
                return v[idx].mean(axis=1)

        y = b.copy()
        scale = max(float(np.abs(b).max()), 1.0)
        for _ in range(10_000):
            new = b + rho * lag(y)
            change = float(np.abs(new - y).max())
            y = new
            if change <= 1e-13 * scale:
                break
        if self.order is None:
            return y
        out = np.empty_like(y)
        out[self.order] = y
        return out


def _design(cluster, serial, employees, age) -> np.ndarray:
    c2 = cluster**2
    cols = {
        "Intercept": np.ones_like(cluster),
        "serial": serial.astype(float),
        "cluster": cluster,
        "I(cluster ** 2)": c2,
        "np.log(employees)": np.log(employees),
        "age": age.astype(float),
        "serial:cluster": serial * cluster,
        "serial:I(cluster ** 2)": serial * c2,
    }
    return np.column_stack([cols[t] for t in _TERMS])


def _vector(params: dict) -> np.ndarray:
    return np.array([params[t] for t in _TERMS], dtype=float)


def _id_width(n: int) -> int:
    """Digits of the firm ids: 6 (``F000001``), more when ``n`` needs them."""
    return max(6, len(str(n)))


def _firm_ids(n: int) -> pd.api.extensions.ExtensionArray:
    """``F000001``, ``F000002``, ... as a pandas string array."""
    digits = pc.utf8_lpad(
        pa.array(np.arange(1, n + 1)).cast(pa.string()), width=_id_width(n), padding="0"
    )
    return pd.array(pc.binary_join_element_wise(pa.scalar("F"), digits, pa.scalar("")), dtype="str")


# ----------------------------------------------------------------------------- main


def _simulate(
    n,
    *,
    seed=None,
    industries=None,
    rho=0.4,
    weights="knn:8",
    cluster_radius="25km",
    hub_share=0.35,
    beta=None,
    sigma=1.0,
):
    """The generator; returns ``(frame, internals)`` with ``eps`` and ``W`` for tests."""
    k = _weights_k(weights)
    n = _check_n(n, (k + 1) if k is not None else 2)
    shares = _check_industries(industries)
    rho = _check_rho(rho)
    hub_share = _check_hub_share(hub_share)
    beta = _check_beta(beta)
    sigma = _check_sigma(sigma)
    radius_m = parse_distance(cluster_radius, name="cluster_radius")
    rng, seed_used = _seed_rng(seed)

    table = _zcta_table()
    names = list(shares)
    cdf = np.cumsum([shares[name] for name in names])
    industry_codes = np.minimum(
        np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(names) - 1
    )
    zi, hub_code, hub_names = _draw_locations(rng, table, industry_codes, names, hub_share)
    zlon = table["lon"].to_numpy()[zi]
    zlat = table["lat"].to_numpy()[zi]
    lon, lat = _jitter(rng, zlon, zlat)

    age = 1 + np.floor(rng.gamma(_AGE_GAMMA[0], _AGE_GAMMA[1], n)).astype(np.int64)
    log_emp = _LOG_EMP[0] + _LOG_EMP[1] * age + _LOG_EMP[2] * rng.standard_normal(n)
    employees = np.maximum(1, np.rint(np.exp(log_emp))).astype(np.int64)
    tech = np.array([INDUSTRIES[name]["tech"] for name in names])[industry_codes]
    pat_mean = np.exp(_PATENT_LOGMEAN[0] + _PATENT_LOGMEAN[1] * np.log(employees) + tech)
    patents = rng.poisson(pat_mean * rng.gamma(1.0 / _PATENT_ALPHA, _PATENT_ALPHA, n)).astype(
        np.int64
    )
    small = employees <= SERIAL_MAX_EMPLOYEES
    serial = ((patents >= SERIAL_MIN_PATENTS) & small).astype(np.int64)

    count = _cluster_counts(table, zi, industry_codes, len(names), radius_m)
    log_count = np.log1p(count)
    c_mean, c_sd = float(log_count.mean()), float(log_count.std())
    cluster = (log_count - c_mean) / c_sd if c_sd > 0 else np.zeros(n)

    x = _design(cluster, serial, employees, age)
    ids = _firm_ids(n)
    index = pd.Index(ids)
    geometry = gpd.points_from_xy(lon, lat, crs="EPSG:4326")
    lag = _Lag(lon, lat, geometry, index, weights, k)
    eps = rng.normal(0.0, sigma, n)
    xb = x @ _vector(beta)
    intl = lag.solve(rho, xb + eps)

    mu_fm = np.exp(x @ _vector(_GAMMA))
    foreign = rng.poisson(mu_fm * rng.gamma(1.0 / _NB_ALPHA, _NB_ALPHA, n)).astype(np.int64)
    mu_es = 1.0 / (1.0 + np.exp(-(x @ _vector(_DELTA))))
    share = np.clip(rng.beta(mu_es * _BETA_PHI, (1 - mu_es) * _BETA_PHI), 0.0, 1.0)

    innovator_code = np.where(serial == 1, 0, np.where(small, 1, 2))
    frame = gpd.GeoDataFrame(
        {
            "firm_id": ids,
            "industry": _str_array(industry_codes, names),
            "naics": _str_array(industry_codes, [INDUSTRIES[nm]["naics"] for nm in names]),
            "zcta": _str_array(zi, table["zcta"]),
            "fips": _str_array(zi, table["fips"]),
            "lon": lon,
            "lat": lat,
            "employees": employees,
            "age": age,
            "patents_5y": patents,
            "serial": serial,
            "innovator_type": _str_array(innovator_code, ["serial", "non-serial", "large"]),
            "cluster_count": count,
            "cluster": cluster,
            "intl": intl,
            "foreign_markets": foreign,
            "export_share": share,
            "planted_hub": _str_array(hub_code, hub_names),
        },
        index=index,
        geometry=geometry,
    )
    frame.attrs["truth"] = _truth(
        n=n,
        seed=seed_used,
        shares=shares,
        rho=rho,
        weights=weights,
        radius_m=radius_m,
        hub_share=hub_share,
        beta=beta,
        sigma=sigma,
        c_mean=c_mean,
        c_sd=c_sd,
    )
    return frame, {"eps": eps, "W": lag.W, "X": x, "terms": list(_TERMS)}


def _turning_point(params: dict, serial: bool) -> float | None:
    lin = params["cluster"] + (params["serial:cluster"] if serial else 0.0)
    quad = params["I(cluster ** 2)"] + (params["serial:I(cluster ** 2)"] if serial else 0.0)
    return None if quad == 0 else float(-lin / (2 * quad))


def _truth(
    *, n, seed, shares, rho, weights, radius_m, hub_share, beta, sigma, c_mean, c_sd
) -> dict:
    rhs = FORMULA.split("~", 1)[1].strip()
    hubs = {
        name: [
            {
                "name": hub_name,
                "lon": lon,
                "lat": lat,
                "radius_km": radius_km,
                "share": hub_share / len(INDUSTRIES[name]["hubs"]),
            }
            for hub_name, lon, lat, radius_km in INDUSTRIES[name]["hubs"]
        ]
        for name in shares
    }
    return {
        "n": int(n),
        "seed": seed,
        "formula": FORMULA,
        "model": "lag",
        "weights": weights,
        "rho": rho,
        "beta": dict(beta),
        "sigma": sigma,
        "turning_point_nonserial": _turning_point(beta, serial=False),
        "turning_point_serial": _turning_point(beta, serial=True),
        "serial_definition": {
            "min_patents_5y": SERIAL_MIN_PATENTS,
            "max_employees": SERIAL_MAX_EMPLOYEES,
            "source": "SBA Office of Advocacy / CHI Research serial innovator definition",
            "note": "serial = 1 only for small firms; large firms (employees > 500) have "
            "serial = 0 and share the non-serial coefficients in every outcome",
        },
        "cluster": {
            "definition": "standardised log(1 + other same-industry firms whose ZCTA point "
            "is within radius_m of the firm's ZCTA point, EPSG:5070)",
            "radius_m": radius_m,
            "log_count_mean": c_mean,
            "log_count_sd": c_sd,
        },
        "industries": {
            name: {
                "naics": INDUSTRIES[name]["naics"],
                "title": INDUSTRIES[name]["title"],
                "share": share,
                "tech": INDUSTRIES[name]["tech"],
            }
            for name, share in shares.items()
        },
        "hub_share": hub_share,
        "hubs": hubs,
        "jitter_sd_m": JITTER_SD_M,
        "background_share": BACKGROUND_SHARE,
        "foreign_markets": {
            "formula": f"foreign_markets ~ {rhs}",
            "family": "negative_binomial",
            "link": "log",
            "params": dict(_GAMMA),
            "alpha": _NB_ALPHA,
            "turning_point_nonserial": _turning_point(_GAMMA, serial=False),
            "turning_point_serial": _turning_point(_GAMMA, serial=True),
        },
        "export_share": {
            "formula": f"export_share ~ {rhs}",
            "family": "beta",
            "link": "logit",
            "params": dict(_DELTA),
            "precision": _BETA_PHI,
            "turning_point_nonserial": _turning_point(_DELTA, serial=False),
            "turning_point_serial": _turning_point(_DELTA, serial=True),
        },
    }
