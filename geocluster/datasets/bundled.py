"""Bundled real data: loaders for the files in the project's ``data/`` folder.

The files in the project's ``data/`` folder (shipped inside the wheel as
``geocluster/_bundled_data``) are real public data; ``data/SOURCES.md`` gives their
provenance. Every loader returns a new frame with tidy column names and keys as
zero-padded strings (county FIPS has 5 digits, CBSA codes 5, ZCTAs 5).

Loaders
-------
load_counties, load_states, load_patents, load_cbp, load_crosswalk, load_zcta,
load_columbus. The synthetic firm generator is :mod:`geocluster.datasets.synthetic`.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd
import shapely

from geocluster.errors import InputError

__all__ = [
    "data_path",
    "load_counties",
    "load_states",
    "load_patents",
    "load_cbp",
    "load_crosswalk",
    "load_zcta",
    "load_columbus",
    "NAICS_TITLES",
    "CONUS_EXCLUDED_STATES",
]

#: State FIPS codes outside the contiguous US: Alaska, Hawaii, and the territories.
CONUS_EXCLUDED_STATES = ("02", "15", "60", "66", "69", "72", "78")

#: Titles of the NAICS codes kept in the bundled County Business Patterns subset.
NAICS_TITLES = {
    "00": "All industries",
    "325": "Chemical manufacturing",
    "3254": "Pharmaceutical and medicine manufacturing",
    "334": "Computer and electronic product manufacturing",
    "3341": "Computer and peripheral equipment manufacturing",
    "3342": "Communications equipment manufacturing",
    "3344": "Semiconductor and other electronic component manufacturing",
    "3345": "Navigational, measuring, electromedical and control instruments",
    "3346": "Manufacturing and reproducing magnetic and optical media",
    "511": "Publishing industries (except Internet)",
    "5112": "Software publishers",
    "518": "Data processing, hosting and related services",
    "5182": "Data processing, hosting and related services",
    "519": "Other information services",
    "5191": "Other information services",
    "541": "Professional, scientific and technical services",
    "5413": "Architectural, engineering and related services",
    "5415": "Computer systems design and related services",
    "5417": "Scientific research and development services",
}

_FILES = {
    "counties": "us_atlas_counties-10m.json",
    "patents": "uspto_utility_patents_by_county_2000_2015.csv",
    "cbp": "cbp2019_cbsa_naics_tech_subset.csv",
    "crosswalk": "cbsa_county_crosswalk_nber.csv",
    "zcta": "zcta_centroids_2023_gazetteer.csv",
    "columbus": "columbus_spData.gpkg",
}


def data_path(name: str) -> Path:
    """Path of a bundled data file, from an installed wheel or a source checkout.

    Parameters
    ----------
    name
        The data set's name, e.g. ``"patents"``, ``"cbp"``, ``"columbus"``.

    Returns
    -------
    Path
        The file's location on disk.

    Examples
    --------
    >>> data_path("patents").name
    'uspto_utility_patents_by_county_2000_2015.csv'
    """
    if name not in _FILES:
        raise InputError(f"unknown bundled data set {name!r}; choose one of {sorted(_FILES)}.")
    filename = _FILES[name]
    candidates = [
        Path(str(resources.files("geocluster") / "_bundled_data" / filename)),
        Path(__file__).resolve().parents[2] / "data" / filename,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise InputError(
        f"bundled data file {filename!r} not found (looked in {[str(c.parent) for c in candidates]}). "
        "Reinstall geocluster, or run from a complete source checkout."
    )


@functools.lru_cache(maxsize=4)
def _read_topojson(layer: str) -> gpd.GeoDataFrame:
    frame = gpd.read_file(data_path("counties"), layer=layer).set_crs(4326)
    invalid = ~frame.is_valid
    if invalid.any():
        # The TopoJSON is quantized; 22 county polygons self-touch as read.
        fixed = shapely.make_valid(frame.geometry[invalid].to_numpy(), method="structure")
        frame.loc[invalid, "geometry"] = fixed
    return frame


def load_counties(region: Literal["all", "conus"] = "conus") -> gpd.GeoDataFrame:
    """US counties (Census 2017 cartographic boundaries, via the us-atlas package).

    Parameters
    ----------
    region
        ``"conus"`` (default; 3,107: the contiguous 48 states and DC) or ``"all"``
        (3,230 counties and equivalents: Alaska, Hawaii, Puerto Rico and the island
        territories too). The default is the contiguous US because Alaska, Hawaii and
        the territories have no contiguous neighbours (queen weights leave them
        islands) and lie far outside any one equal-area CRS suited to the 48 states;
        ask for ``"all"`` and give them their own CRS.

    Returns
    -------
    GeoDataFrame
        Indexed by the 5-digit FIPS code, with columns ``fips``, ``name``,
        ``state_fips``, ``state`` and polygon geometry in EPSG:4326. Invalid
        polygons from the quantized source are repaired with ``make_valid``. The
        source has 3,231 counties, but one, Falls Church city, VA (51610, 5 km^2),
        has an empty geometry after quantization and is left out.

    Examples
    --------
    >>> counties = load_counties()
    >>> len(counties), counties.crs.to_epsg()
    (3107, 4326)
    >>> len(load_counties("all"))
    3230
    >>> counties.loc["06085", "name"]
    'Santa Clara'
    """
    if region not in ("all", "conus"):
        raise InputError(
            f"region={region!r} must be 'conus' (the contiguous US, the default) or 'all' "
            "(with Alaska, Hawaii and the territories)."
        )
    counties = _read_topojson("counties").rename(columns={"id": "fips"})
    states = _read_topojson("states")[["id", "name"]].rename(
        columns={"id": "state_fips", "name": "state"}
    )
    counties["state_fips"] = counties["fips"].str[:2]
    counties = counties.merge(states, on="state_fips", how="left")
    if region == "conus":
        counties = counties[~counties["state_fips"].isin(CONUS_EXCLUDED_STATES)]
    counties = counties[~counties.geometry.is_empty]
    counties = counties[["fips", "name", "state_fips", "state", "geometry"]]
    counties.index = pd.Index(counties["fips"].to_numpy(), name=None)
    return counties.copy()


def load_states() -> gpd.GeoDataFrame:
    """US states and territories (56), indexed by 2-digit FIPS, EPSG:4326.

    Returns
    -------
    GeoDataFrame
        One polygon per state, with ``state_fips`` and ``name``.

    Examples
    --------
    >>> load_states().loc["06", "name"]
    'California'
    """
    states = _read_topojson("states").rename(columns={"id": "state_fips"})
    states.index = pd.Index(states["state_fips"].to_numpy())
    return states.copy()


def load_patents(years: tuple[int, int] | None = None) -> pd.DataFrame:
    """Utility patents issued by inventor county and year, 2000-2015 (USPTO PTMT).

    Parameters
    ----------
    years
        Inclusive ``(first, last)`` range to keep; default all years.

    Returns
    -------
    DataFrame
        Columns ``fips`` (5-digit string), ``county``, ``year``, ``patents``; one
        row per county and year (3,019 counties).

    Examples
    --------
    >>> patents = load_patents(years=(2011, 2015))
    >>> sorted(patents["year"].unique().tolist())
    [2011, 2012, 2013, 2014, 2015]
    >>> int(patents.groupby("fips")["patents"].sum().idxmax() == "06085")
    1
    """
    frame = pd.read_csv(
        data_path("patents"), dtype={"stco_code": str, "co_name": str, "year": int}
    ).rename(
        columns={"stco_code": "fips", "co_name": "county", "patents_issued": "patents"}
    )
    frame["fips"] = frame["fips"].str.zfill(5)
    if years is not None:
        first, last = years
        frame = frame[(frame["year"] >= first) & (frame["year"] <= last)]
        if frame.empty:
            raise InputError(f"years={years!r} keeps no rows; the data cover 2000-2015.")
    return frame.reset_index(drop=True)


def load_cbp() -> pd.DataFrame:
    """County Business Patterns 2019 employment and establishments by metro area x NAICS.

    Returns
    -------
    DataFrame
        Columns ``cbsa_code`` (5-digit string), ``naics_code`` (string), ``naics_level``
        (2, 3 or 4), ``naics_title``, ``emp``, ``estab``. ``naics_code == "00"`` is all
        industries. Cells the Census Bureau suppressed are absent, not zero.

    Examples
    --------
    >>> cbp = load_cbp()
    >>> cbp["cbsa_code"].nunique()
    933
    """
    frame = pd.read_csv(data_path("cbp"), dtype={"cbsa_code": str, "naics_code": str})
    frame["cbsa_code"] = frame["cbsa_code"].str.zfill(5)
    frame["naics_title"] = frame["naics_code"].map(NAICS_TITLES)
    return frame[["cbsa_code", "naics_code", "naics_level", "naics_title", "emp", "estab"]]


def load_crosswalk() -> pd.DataFrame:
    """County-to-CBSA (metro/micro area) crosswalk (NBER, Census delineation about 2015-2017).

    Returns
    -------
    DataFrame
        Columns ``fips`` (5-digit county FIPS), ``cbsa_code``, ``cbsa_title``,
        ``area_type`` (``"metro"`` or ``"micro"``), ``csa_code``, ``county``, ``state``,
        ``central`` (True for central counties).

    Examples
    --------
    >>> xw = load_crosswalk()
    >>> xw.set_index("fips").loc["06085", "cbsa_title"]
    'San Jose-Sunnyvale-Santa Clara, CA'
    """
    raw = pd.read_csv(data_path("crosswalk"), dtype=str)
    frame = pd.DataFrame(
        {
            "fips": raw["fipsstatecode"].str.zfill(2) + raw["fipscountycode"].str.zfill(3),
            "cbsa_code": raw["cbsacode"].str.zfill(5),
            "cbsa_title": raw["cbsatitle"],
            "area_type": raw["metropolitanmicropolitanstatis"].map(
                {"Metropolitan Statistical Area": "metro", "Micropolitan Statistical Area": "micro"}
            ),
            "csa_code": raw["csacode"],
            "county": raw["countycountyequivalent"],
            "state": raw["statename"],
            "central": raw["centraloutlyingcounty"].eq("Central"),
        }
    )
    return frame.drop_duplicates("fips").reset_index(drop=True)


def load_zcta() -> gpd.GeoDataFrame:
    """ZIP Code Tabulation Area internal points (Census 2023 Gazetteer), EPSG:4326.

    Returns
    -------
    GeoDataFrame
        Indexed by the 5-digit ZCTA, columns ``zcta``, ``lat``, ``lon``, point geometry.

    Examples
    --------
    >>> zcta = load_zcta()
    >>> len(zcta)
    33791
    """
    raw = pd.read_csv(data_path("zcta"), dtype={"GEOID": str})
    frame = pd.DataFrame(
        {"zcta": raw["GEOID"].str.zfill(5), "lat": raw["LAT"], "lon": raw["LONG"]}
    )
    gdf = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326
    )
    gdf.index = pd.Index(gdf["zcta"].to_numpy())
    return gdf


def load_columbus() -> gpd.GeoDataFrame:
    """Columbus, OH neighbourhood crime data (Anselin 1988; R spData), 49 polygons.

    Rows are ordered by ``POLYID`` (as in the R reference results) and indexed by
    ``POLYID - 1`` (0..48). The coordinates are in an unnamed local unit, so the CRS
    is ``None``: contiguity and ``knn`` weights work, distance-based ones do not.

    Returns
    -------
    GeoDataFrame
        49 polygons with the spData columns (``CRIME``, ``INC``, ``HOVAL``, ...).

    Examples
    --------
    >>> columbus = load_columbus()
    >>> columbus.shape[0], columbus.crs is None
    (49, True)
    >>> round(float(columbus["CRIME"].mean()), 4)
    35.1288
    """
    frame = gpd.read_file(data_path("columbus"))
    frame = frame.set_crs(None, allow_override=True)
    frame["POLYID"] = frame["POLYID"].astype(int)
    frame = frame.sort_values("POLYID")
    frame.index = pd.RangeIndex(len(frame))
    return frame
