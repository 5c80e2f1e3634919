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

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

from geocluster._base.linalg import neumann_solve
from geocluster.datasets.geography import (
    INDUSTRIES,
    JITTER_SD_M,
    cluster_counts,
    draw_locations,
    jitter,
    knn_indices,
    metric_xy,
    zcta_table,
)
from geocluster.datasets.options import check_options
from geocluster.datasets.truth import (
    BETA_PHI,
    DEFAULT_BETA,
    DELTA,
    EXPORT_THRESHOLD,
    GAMMA,
    NB_ALPHA,
    SERIAL_MAX_EMPLOYEES,
    SERIAL_MIN_PATENTS,
    TERMS,
    export_truth,
    truth_record,
)
from geocluster.errors import InputError
from geocluster.weights import weights as build_weights

__all__ = ["make_firms", "simulate_firms", "SyntheticFirms", "INDUSTRIES", "DEFAULT_BETA",
           "JITTER_SD_M", "export_outcomes"]

# firm attributes
_AGE_GAMMA = (2.0, 7.0)
_LOG_EMP = (2.6, 0.025, 1.6)  # intercept, age slope, sd
_PATENT_LOGMEAN = (0.0, 0.6)  # intercept, log(employees) slope
_PATENT_ALPHA = 1.2


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


@dataclass(frozen=True)
class SyntheticFirms:
    """Synthetic firms and their true parameters, as :func:`simulate_firms` returns them.

    Attributes
    ----------
    firms
        The frame :func:`make_firms` returns.
    truth
        The true parameters (a JSON-serialisable dict; the same content as
        ``firms.attrs["truth"]``, which pandas does not promise to keep).

    Examples
    --------
    >>> sim = simulate_firms(200, seed=2)
    >>> sorted(sim.truth)[:3], len(sim.firms)
    (['background_share', 'beta', 'cluster'], 200)
    """

    firms: gpd.GeoDataFrame
    truth: dict

    def __repr__(self) -> str:
        return (f"<SyntheticFirms of {len(self.firms):,} firms: rho={self.truth['rho']}, "
                f"weights={self.truth['weights']!r}, seed={self.truth['seed']!r}>")


def simulate_firms(
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
) -> SyntheticFirms:
    """:func:`make_firms` with the true parameters as a typed attribute, not only in ``.attrs``.

    Takes the same arguments as :func:`make_firms` and draws the same firms for the
    same seed.

    Parameters
    ----------
    n, seed, industries, rho, weights, cluster_radius, hub_share, beta, sigma
        As in :func:`make_firms`.

    Returns
    -------
    SyntheticFirms
        ``.firms`` (the frame :func:`make_firms` returns) and ``.truth`` (the true
        parameters).

    Examples
    --------
    >>> sim = simulate_firms(300, seed=1)
    >>> sim
    <SyntheticFirms of 300 firms: rho=0.4, weights='knn:8', seed=1>
    >>> sim.truth["turning_point_nonserial"], sim.firms.shape
    (1.0, (300, 19))
    """
    frame, internals = _simulate(
        n, seed=seed, industries=industries, rho=rho, weights=weights,
        cluster_radius=cluster_radius, hub_share=hub_share, beta=beta, sigma=sigma,
    )
    return SyntheticFirms(firms=frame, truth=copy.deepcopy(internals["truth"]))


def export_outcomes(sim: SyntheticFirms, threshold: float = EXPORT_THRESHOLD
                    ) -> SyntheticFirms:
    """Add the binary ``exports`` and the censored ``sales_abroad`` with their truth.

    ``exports = 1[intl > threshold]`` (a SAR probit) and ``sales_abroad = max(intl -
    threshold, 0)`` (a SAR tobit), with the exact true parameters of
    :func:`geocluster.datasets.truth.export_truth` under ``truth["exports"]`` and
    ``truth["sales_abroad"]``. The input is not modified.

    Parameters
    ----------
    sim
        The result of :func:`simulate_firms`.
    threshold
        The level of ``intl`` above which a firm exports.

    Returns
    -------
    SyntheticFirms
        The firms with the two columns added and the truth extended.

    Examples
    --------
    >>> sim = export_outcomes(simulate_firms(300, seed=1))
    >>> sorted(set(sim.firms["exports"])), bool((sim.firms["sales_abroad"] >= 0).all())
    ([0, 1], True)
    >>> sim.truth["exports"]["model"]
    'SAR probit'
    """
    if not isinstance(sim, SyntheticFirms):
        raise InputError(f"export_outcomes: sim must be a SyntheticFirms (from "
                         f"simulate_firms), got {type(sim).__name__}.")
    if not np.isfinite(threshold):
        raise InputError(f"export_outcomes: threshold={threshold!r} must be a finite number.")
    firms = sim.firms.copy()
    intl = firms["intl"].to_numpy(dtype=float)
    firms["exports"] = (intl > threshold).astype(np.int64)
    firms["sales_abroad"] = np.maximum(intl - threshold, 0.0)
    truth = {**copy.deepcopy(sim.truth), **export_truth(sim.truth, float(threshold))}
    firms.attrs["truth"] = copy.deepcopy(truth)
    return SyntheticFirms(firms=firms, truth=truth)


# ----------------------------------------------------------------------------- weights, DGP


def _str_array(codes: np.ndarray, labels) -> pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as a pandas string array (missing where ``codes < 0``), fast."""
    codes = np.asarray(codes)
    taken = pa.array([str(v) for v in labels], type=pa.string()).take(
        pa.array(codes, mask=codes < 0)
    )
    return pd.array(taken, dtype="str")



class _Lag:
    """Row-standardised weights of the lag DGP: the sparse ``W`` and a fast ``W @ y``."""

    def __init__(self, lon, lat, geometry, index, spec: str, k: int | None):
        n = len(lon)
        self.order: np.ndarray | None
        if k is not None:
            idx, order = knn_indices(metric_xy(lon, lat), k)
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
        """Solve (I - rho W) y = rhs by the Neumann series (:func:`neumann_solve`)."""
        if self.order is None:
            return neumann_solve(self.W, rhs, rho)
        idx = self._idx_sorted

        def lag(v: np.ndarray) -> np.ndarray:
            return v[idx].mean(axis=1)

        y = neumann_solve(lag, rhs[self.order], rho)
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
    return np.column_stack([cols[t] for t in TERMS])


def _vector(params: dict) -> np.ndarray:
    return np.array([params[t] for t in TERMS], dtype=float)


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
    """The generator; returns ``(frame, internals)`` with ``eps``, ``W`` and ``truth``."""
    options, rng = check_options(
        n, seed=seed, industries=industries, rho=rho, weights=weights,
        cluster_radius=cluster_radius, hub_share=hub_share, beta=beta, sigma=sigma,
    )
    n, k, shares, hub_share = options.n, options.k, options.shares, options.hub_share
    rho, beta, sigma, radius_m = options.rho, options.beta, options.sigma, options.radius_m

    table = zcta_table()
    names = list(shares)
    cdf = np.cumsum([shares[name] for name in names])
    industry_codes = np.minimum(
        np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(names) - 1
    )
    zi, hub_code, hub_names = draw_locations(rng, table, industry_codes, names, hub_share)
    zlon = table["lon"].to_numpy()[zi]
    zlat = table["lat"].to_numpy()[zi]
    lon, lat = jitter(rng, zlon, zlat)

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

    count = cluster_counts(table, zi, industry_codes, len(names), radius_m)
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

    mu_fm = np.exp(x @ _vector(GAMMA))
    foreign = rng.poisson(mu_fm * rng.gamma(1.0 / NB_ALPHA, NB_ALPHA, n)).astype(np.int64)
    mu_es = 1.0 / (1.0 + np.exp(-(x @ _vector(DELTA))))
    share = np.clip(rng.beta(mu_es * BETA_PHI, (1 - mu_es) * BETA_PHI), 0.0, 1.0)

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
    truth = truth_record(
        n=n,
        seed=options.seed,
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
    frame.attrs["truth"] = copy.deepcopy(truth)
    return frame, {"eps": eps, "W": lag.W, "X": x, "terms": list(TERMS), "truth": truth}
