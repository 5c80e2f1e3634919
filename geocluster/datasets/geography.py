"""Placing synthetic firms on real US geography (ZIP areas, counties, technology hubs).

The geography half of :func:`geocluster.datasets.make_firms`: the contiguous-US ZCTA
points weighted by their county's patenting (:func:`zcta_table`), the industries and
their planted hubs (:data:`INDUSTRIES`), the draw of each firm's ZCTA
(:func:`draw_locations`), the 500 m jitter (:func:`jitter`), the same-industry
neighbour counts behind ``cluster`` (:func:`cluster_counts`) and the nearest neighbours
of the lag DGP (:func:`knn_indices`, in the automatic metric CRS :func:`metric_xy`).
The data-generating process itself is :mod:`geocluster.datasets.synthetic`.
"""

from __future__ import annotations

import functools

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy import sparse
from scipy.spatial import cKDTree

from geocluster.datasets.bundled import (
    CONUS_EXCLUDED_STATES,
    load_counties,
    load_patents,
    load_zcta,
)
from geocluster.units import auto_metric_crs

__all__ = [
    "BACKGROUND_SHARE",
    "INDUSTRIES",
    "JITTER_SD_M",
    "ZCTA_CRS",
    "cluster_counts",
    "draw_locations",
    "duplicated_points",
    "hub_zctas",
    "jitter",
    "knn_indices",
    "lonlat_transformer",
    "metric_xy",
    "zcta_table",
]

#: Standard deviation (metres, per axis) of the Gaussian jitter around the ZCTA point.
JITTER_SD_M = 500.0
#: Share of the general location weights spread uniformly over all ZCTAs.
BACKGROUND_SHARE = 0.25
#: Metres per degree of latitude (and of longitude at the equator) for the jitter.
METERS_PER_DEGREE = 111_320.0
#: The CRS of the ZCTA table's x/y and of the ``cluster`` radius (Conus Albers).
ZCTA_CRS = "EPSG:5070"
#: The patent years behind the general location weights.
PATENT_YEARS = (2011, 2015)

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


# ----------------------------------------------------------------------------- locations




@functools.lru_cache(maxsize=1)
def zcta_table() -> pd.DataFrame:
    """Contiguous-US ZCTA points with county, metric x/y and general activity weight."""
    zcta = load_zcta()
    counties = load_counties("all")[["fips", "geometry"]]
    joined = gpd.sjoin(zcta, counties, how="left", predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")]
    fips = joined["fips"].copy()
    missing = fips.isna()
    if missing.any():
        near = gpd.sjoin_nearest(
            zcta.loc[missing[missing].index].to_crs(ZCTA_CRS),
            counties.to_crs(ZCTA_CRS),
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

    x, y = lonlat_transformer(ZCTA_CRS).transform(table["lon"].to_numpy(), table["lat"].to_numpy())
    table["x"], table["y"] = np.asarray(x), np.asarray(y)

    patents = load_patents(years=PATENT_YEARS).groupby("fips")["patents"].sum()
    county_pat = table["fips"].map(patents).fillna(0.0).to_numpy(dtype=float)
    zctas_in_county = table.groupby("fips")["zcta"].transform("size").to_numpy(dtype=float)
    spread = county_pat / zctas_in_county
    weight = (1 - BACKGROUND_SHARE) * spread / spread.sum() + BACKGROUND_SHARE / len(table)
    table["weight"] = weight / weight.sum()
    return table


@functools.lru_cache(maxsize=16)
def lonlat_transformer(target: pyproj.CRS | str) -> pyproj.Transformer:
    """lon/lat -> ``target`` (building a Transformer costs tens of milliseconds)."""
    return pyproj.Transformer.from_crs("EPSG:4326", target, always_xy=True)


@functools.lru_cache(maxsize=64)
def hub_zctas(lon: float, lat: float, radius_km: float) -> np.ndarray:
    """Rows of :func:`zcta_table` whose point is within ``radius_km`` of the hub centre."""
    table = zcta_table()
    hx, hy = lonlat_transformer(ZCTA_CRS).transform(lon, lat)
    dist = np.hypot(table["x"].to_numpy() - hx, table["y"].to_numpy() - hy)
    rows = np.flatnonzero(dist <= radius_km * 1000.0)
    rows.flags.writeable = False
    return rows


def draw_locations(rng, table, industry_codes, names, hub_share):
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
            cand = hub_zctas(lon, lat, radius_km)
            p = np.cumsum(general_p[cand])
            p /= p[-1]
            zi[rows] = cand[np.searchsorted(p, hub_u[rows], side="right")]
            if hub_name not in hub_names:
                hub_names.append(hub_name)
            hub_code[rows] = hub_names.index(hub_name)
    return zi, hub_code, hub_names


def jitter(rng, lon, lat):
    """Longitudes/latitudes moved by Gaussian noise of :data:`JITTER_SD_M` metres per axis, without duplicates."""
    n = len(lon)
    dx = rng.normal(0.0, JITTER_SD_M, n)
    dy = rng.normal(0.0, JITTER_SD_M, n)
    jlon = lon + dx / (METERS_PER_DEGREE * np.cos(np.radians(lat)))
    jlat = lat + dy / METERS_PER_DEGREE
    for _ in range(100):  # exact duplicates have probability zero; redraw them if any
        dup = duplicated_points(jlon, jlat)
        if not dup.any():
            break
        k = int(dup.sum())
        jlon[dup] = lon[dup] + rng.normal(0.0, JITTER_SD_M, k) / (
            METERS_PER_DEGREE * np.cos(np.radians(lat[dup]))
        )
        jlat[dup] = lat[dup] + rng.normal(0.0, JITTER_SD_M, k) / METERS_PER_DEGREE
    return jlon, jlat


def duplicated_points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for every point that repeats an earlier one (as ``DataFrame.duplicated``)."""
    order = np.argsort(x, kind="stable")
    same_x = np.flatnonzero(np.diff(x[order]) == 0)
    dup = np.zeros(len(x), dtype=bool)
    if same_x.size:
        cand = np.unique(np.concatenate([order[same_x], order[same_x + 1]]))
        dup[cand] = pd.DataFrame({"x": x[cand], "y": y[cand]}).duplicated().to_numpy()
    return dup


# ----------------------------------------------------------------------------- neighbours




def cluster_counts(table, zi, industry_codes, n_industries, radius_m) -> np.ndarray:
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




def knn_indices(xy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
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


def metric_xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Coordinates in the CRS :func:`geocluster.to_metric` picks for these points."""
    x, y = lonlat_transformer(auto_metric_crs(lon, lat)).transform(lon, lat)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
