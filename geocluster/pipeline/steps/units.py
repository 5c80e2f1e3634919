"""The study's areal units, their firm counts, location quotients and focus industries.

**Focus industries.** ``[firms] focus_industry`` names one industry or a list. When it is
not set, the study takes the :data:`N_FOCUS` most localised industries: for every
industry with at least ``[density] min_firms`` firms, its largest location quotient over
the study's areal units that hold at least ``[areal] min_firms`` firms; the industries
with the highest such maximum LQ are the focus (ties: more firms first, then by name).
When no unit is large enough for an LQ, the largest industry is the focus (with a note).

**Places.** Units from the bundled counties are named "County, ST".
"""

from __future__ import annotations

import warnings
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.areal import aggregate, location_quotient
from geocluster.datasets import load_cbp, load_counties, load_crosswalk, load_patents
from geocluster.errors import ConfigError
from geocluster.pipeline.config import StudyConfig
from geocluster.pipeline.steps.common import config_key, note
from geocluster.pipeline.steps.data import Columns, Focus
from geocluster.pipeline.steps.firms import named_focus
from geocluster.robustness.measures import build_units
from geocluster.robustness.specs import parse_units_spec

__all__ = ["StudyUnits", "unit_lqs", "with_places", "us_patent_units", "read_units", "N_FOCUS",
           "TECH_NAICS", "STATE_ABBREVIATIONS"]

#: NAICS codes counted as technology employment in the demo's metro-area LQ
#: (4-digit codes only, so nothing is counted twice).
TECH_NAICS = ("3254", "3341", "3342", "3344", "3345", "3346", "5112", "5182", "5415", "5417")

#: How many of the most localised industries are the default focus.
N_FOCUS = 3

#: Two-letter postal codes of the states by FIPS code (for place names "Montgomery, MD").
STATE_ABBREVIATIONS = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT",
    "10": "DE", "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL",
    "18": "IN", "19": "IA", "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD",
    "25": "MA", "26": "MI", "27": "MN", "28": "MS", "29": "MO", "30": "MT", "31": "NE",
    "32": "NV", "33": "NH", "34": "NJ", "35": "NM", "36": "NY", "37": "NC", "38": "ND",
    "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI", "45": "SC", "46": "SD",
    "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA", "54": "WV",
    "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}


def with_places(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``place``: "County, ST" for counties, else a name column or the unit id."""
    units = units.copy()
    if "name" in units.columns and "state_fips" in units.columns:
        abbr = units["state_fips"].astype(str).str.zfill(2).map(STATE_ABBREVIATIONS)
        fallback = units["state"].astype(str) if "state" in units.columns else ""
        units["place"] = units["name"].astype(str) + ", " + abbr.fillna(fallback)
    elif "name" in units.columns:
        units["place"] = units["name"].astype(str)
    else:
        units["place"] = units.index.astype(str)
    return units


def read_units(spec: str, firms: gpd.GeoDataFrame, cell_size) -> gpd.GeoDataFrame:
    """``[areal] units`` built by the units spec's one builder (:func:`build_units`).

    A polygon file that does not exist is a :class:`ConfigError` (the key names a path
    that is not there); one that cannot be read, or has no CRS, an ``InputError``.
    """
    parsed = parse_units_spec(spec, where="[areal] units", cell_size=cell_size)
    if parsed.kind == "file" and (parsed.path is None or not parsed.path.is_file()):
        raise ConfigError(
            f"[areal] units = {spec!r}: not 'counties', 'grid', 'hex' or an existing polygon "
            "file; give one of those words, or the path of a polygon file (GeoPackage, "
            "Shapefile, GeoJSON; relative to the config's folder)."
        )
    return build_units(parsed, firms, where="")


def us_patent_units(years: tuple[int, int]) -> gpd.GeoDataFrame:
    """Counties with their USPTO patents and their metro's technology-employment LQ."""
    counties = with_places(load_counties("conus"))
    per_county = load_patents(years=years).groupby("fips")["patents"].sum()
    units = counties.assign(
        patents=per_county.reindex(counties.index).fillna(0).astype(int).to_numpy()
    )
    units["log_patents"] = np.log1p(units["patents"])
    cbp = load_cbp()
    tech = cbp[cbp["naics_code"].isin(TECH_NAICS)].assign(naics_code="tech")
    table = pd.concat([cbp[cbp["naics_code"] == "00"], tech], ignore_index=True)
    lq = location_quotient(
        table, unit="cbsa_code", by="naics_code", weight="emp", total="00",
        industries=["tech"], min_total=1000,
    ).set_index("cbsa_code")
    crosswalk = load_crosswalk().set_index("fips")
    cbsa = crosswalk["cbsa_code"].reindex(units.index)
    units["cbsa_code"] = cbsa.to_numpy()
    units["metro"] = crosswalk["cbsa_title"].reindex(units.index).to_numpy()
    units["tech_emp"] = cbsa.map(lq["value"]).to_numpy()
    units["tech_lq"] = cbsa.map(lq["lq"]).to_numpy()
    return units


class StudyUnits:
    """The study's areal units over its firms, computed once when first needed.

    A cache, not a value: the areal, density and exposure steps share one instance (the
    units are read, the firms located and the LQs computed at most once per run).
    """

    def __init__(self, config: StudyConfig, firms: gpd.GeoDataFrame, columns: Columns):
        self.config = config
        self.firms = firms
        self.columns = columns

    @cached_property
    def counted(self) -> gpd.GeoDataFrame:
        """The units with ``place``, ``n_firms`` and ``log_firms``."""
        areal = self.config.areal
        with config_key("areal", "units", areal.units,
                        args={"cell_size": ("cell_size", areal.cell_size)}):
            units = with_places(read_units(areal.units, self.firms, areal.cell_size))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with config_key("areal", "units", areal.units):
                counted = aggregate(self.firms, units)
        for w in caught:  # all but aggregate's own note, which is rephrased below
            if "fall outside every unit" not in str(w.message):
                warnings.warn(w.message, w.category, stacklevel=2)
        if self.outside_of(counted):
            used = ("areal statistics and location quotients" if areal.data == "firms"
                    else "location quotients that choose the focus industries")
            note(f"{self.outside_of(counted):,} of {len(self.firms):,} firms lie outside the "
                 f"study's units ([areal] units = {areal.units!r}) and are not counted in the "
                 f"{used}; choose units that cover them (e.g. a polygon file) if they matter.")
        counted["log_firms"] = np.log1p(counted["n_firms"])
        counted.attrs = {}
        return counted

    @property
    def is_read(self) -> bool:
        """Whether the units have been read and counted already (nothing is read to ask)."""
        return "counted" in vars(self)

    def outside_of(self, counted: gpd.GeoDataFrame) -> int:
        """Firms counted in no unit (each firm counts in at most one)."""
        return int(len(self.firms) - counted["n_firms"].sum())

    @property
    def outside(self) -> int:
        return self.outside_of(self.counted)

    @cached_property
    def lq(self) -> pd.DataFrame | None:
        """LQs of every industry over the units (``unit``, ``industry``, ``lq``, ...)."""
        industry = self.columns.industry
        if industry is None:
            return None
        firms = self.firms[self.firms[industry].notna()]
        return unit_lqs(firms, self.counted, industry, self.config.areal.min_firms)

    @cached_property
    def focus(self) -> Focus:
        """The focus industries (see the module docstring for the rule)."""
        industry = self.columns.industry
        if self.config.firms.focus_industry is not None:
            return Focus(tuple(named_focus(self.config, self.firms, industry)),
                         "named in [firms] focus_industry")
        if industry is None:
            return Focus((), "no industry column: all firms")
        return self._most_localised(self.firms[industry].dropna().astype(str))

    def _most_localised(self, values: pd.Series) -> Focus:
        counts = values.value_counts()
        min_density = self.config.density.min_firms
        table = self.lq
        lq = table.dropna(subset=["lq"]) if table is not None else pd.DataFrame()
        if len(lq):
            best = lq.assign(industry=lq["industry"].astype(str)).groupby("industry")["lq"].max()
            frame = pd.DataFrame({"max_lq": best, "firms": counts.reindex(best.index).fillna(0)})
            frame = frame[frame["firms"] >= min_density]
            if len(frame):
                frame = frame.reset_index().sort_values(["max_lq", "firms", "industry"],
                                                        ascending=[False, False, True])
                chosen = frame["industry"].head(N_FOCUS).astype(str).tolist()
                rule = (f"the {len(chosen)} industries with the highest maximum location "
                        f"quotient over the units with at least {self.config.areal.min_firms} "
                        f"firms (industries with at least {min_density} firms)")
                note(f"focus industries (no [firms] focus_industry): {', '.join(chosen)}, "
                     f"{rule}; name others with [firms] focus_industry.")
                return Focus(tuple(chosen), rule)
        largest = str(counts.index[0])
        rule = "the largest industry (no unit is large enough for a location quotient)"
        note(f"focus industry (no [firms] focus_industry): {largest!r}, {rule}; "
             "lower [areal] min_firms or name it with [firms] focus_industry.")
        return Focus((largest,), rule)

    def with_focus_lq(self) -> gpd.GeoDataFrame:
        """The counted units with ``lq_<industry>`` of every focus industry."""
        units = self.counted.copy()
        table = self.lq
        if table is not None:  # without industries the load step has said LQs are skipped
            for focus in self.focus.industries:
                focus_lq = table[table["industry"].astype(str) == focus].set_index("unit")["lq"]
                units[f"lq_{focus}"] = focus_lq.reindex(units.index).to_numpy()
        return units

    def study_area(self) -> gpd.GeoSeries | None:
        """The units as one polygon (the CSR null's area), or None for a grid."""
        if self.config.areal.units in ("grid", "hex"):
            return None  # a grid is built over the firms: their hull is the area anyway
        units = self.counted
        return gpd.GeoSeries([units.geometry.union_all()], crs=units.crs)


def unit_lqs(firms, units, industry: str, min_firms) -> pd.DataFrame:
    """The LQ table of ``firms`` (in memory or a dask frame) in the study's ``units``, its
    industry column named ``industry``; the outside-firms warning is left to ``counted``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with config_key("areal", "min_firms", min_firms,
                        args={"min_total": ("min_firms", min_firms)}):
            table = location_quotient(firms, units=units[[units.geometry.name]],
                                      by=industry, min_total=min_firms)
    for w in caught:  # outside firms: noted once, by ``counted``
        if "fall outside every unit" not in str(w.message):
            warnings.warn(w.message, w.category, stacklevel=3)
    return table.rename(columns={industry: "industry"})
