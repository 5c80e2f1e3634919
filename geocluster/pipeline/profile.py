"""Profiling a firm table for ``geocluster validate``: what the data hold and what a run will do.

:func:`profile_firms` reads a firm file as ``geocluster run`` would (with
``on_invalid="drop"``, counting what is dropped) and describes it: every column's type
with a short summary, candidate id columns, duplicates in an obvious id column, firms
sharing a location, sentinel codes in numeric-looking columns, and firms outside the
default study area (the contiguous US counties). :func:`suggest_config` turns a profile
into a study config that runs as-is, and :func:`config_toml` writes it as TOML (with
``tomli_w``) under a comment header saying what was chosen and why.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import tomli_w

from geocluster.datasets import load_counties
from geocluster.io import read_firms
from geocluster.pipeline.schema import NAME_COLUMNS

__all__ = ["FirmProfile", "profile_firms", "suggest_config", "config_toml",
           "SENTINEL_NUMBERS", "SENTINEL_TEXTS", "ID_NAMES"]

#: Numbers that registers use for "unknown" (reported when found in a numeric column).
SENTINEL_NUMBERS = (-999999, -99999, -9999, -999, 99999, 999999, 9999999)
#: Texts that registers use for "unknown" (reported in numeric-looking columns; case-insensitive).
SENTINEL_TEXTS = ("NOT AVAILABLE", "N/A", "NA", "N.A.", "-", "--", "", "?", "NULL", "NONE",
                  "NAN", "UNKNOWN", "MISSING", ".")
#: Column names taken for firm ids (case-insensitive); also any name ending in ``_id``.
ID_NAMES = ("id", "firm_id", "company_id", "business_id", "establishment_id", "firmid",
            "companyid", "duns", "duns_number", "ein", "uid", "record_id", "fid")
_SENTINEL_TEXTS = {s.casefold() for s in SENTINEL_TEXTS}
_US_BOX = (-180.0, 15.0, -60.0, 72.0)  # lon/lat box of the 50 states and territories


@dataclass
class FirmProfile:
    """What :func:`profile_firms` found (all counts are of firms after dropping invalid rows)."""

    path: Path
    firms: gpd.GeoDataFrame
    n_rows: int
    n_dropped: int
    drop_reason: str | None
    coordinates: tuple[str, str] | None
    crs: str
    columns: list[dict[str, Any]] = field(default_factory=list)
    id_candidates: list[str] = field(default_factory=list)
    id_duplicates: dict[str, dict[str, Any]] = field(default_factory=dict)
    shared_firms: int = 0
    shared_locations: int = 0
    sentinels: dict[str, dict[str, int]] = field(default_factory=dict)
    in_us: bool = False
    outside_counties: int | None = None
    name_column: str | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The profile as lines of text for stderr."""
        out = [f"{self.path}: {len(self.firms)} firms accepted"
               + (f", {self.n_dropped} of {self.n_rows} rows dropped ({self.drop_reason})"
                  if self.n_dropped else f" (all {self.n_rows} rows)") + "."]
        out.append(f"  CRS: {self.crs}")
        if self.coordinates:
            out.append(f"  coordinates: lon={self.coordinates[0]!r}, lat={self.coordinates[1]!r}")
        out.append("  columns:")
        width = max([len(c["name"]) for c in self.columns] + [4])
        for column in self.columns:
            out.append(f"    {column['name']:<{width}}  {column['kind']:<8} {column['summary']}")
        if self.id_candidates:
            out.append("  candidate id columns (every value unique): "
                       + ", ".join(self.id_candidates))
        else:
            out.append("  candidate id columns: none (no text or whole-number column is unique)")
        for name, info in self.id_duplicates.items():
            out.append(f"  id column {name!r}: {info['duplicated']} firms share an id with "
                       f"another firm (e.g. {info['examples']}); it cannot be [firms] id as is.")
        if self.shared_firms:
            out.append(f"  shared locations: {self.shared_firms} firms share a location with "
                       f"another firm (at {_count(self.shared_locations, 'location')}); distance "
                       "and knn weights need [weights] coincident = \"jitter\".")
        else:
            out.append("  shared locations: none (every firm has its own location)")
        for name, found in self.sentinels.items():
            shown = ", ".join(f"{value!r} x{count}" for value, count in found.items())
            out.append(f"  sentinel values in {name!r}: {shown}; if they mean 'unknown', list "
                       "them in [firms] na_values (the written config does so for negative "
                       "and text codes).")
        if self.outside_counties is not None:
            if self.outside_counties:
                out.append(
                    f"  study area: {self.outside_counties} of {len(self.firms)} firms lie "
                    "outside every contiguous-US county (the default [areal] units); the areal "
                    "step does not count them (with a warning), the point steps (density, "
                    "exposure, model) use them."
                )
            else:
                out.append("  study area: every firm lies in a contiguous-US county (the "
                           "default [areal] units).")
        elif not self.in_us:
            out.append("  study area: the firms are not in the US, so the default [areal] "
                       "units (US counties) do not fit; the config uses a grid.")
        if self.name_column:
            out.append(f"  name column: {self.name_column!r} (map popups and tooltips)")
        for note in self.notes:
            out.append(f"  note: {note}")
        return out


def profile_firms(
    path: str | os.PathLike,
    *,
    lon: str | None = None,
    lat: str | None = None,
    id: str | None = None,  # noqa: A002 - the read_firms name
    crs: str | int = "EPSG:4326",
    layer: str | None = None,
    encoding: str | None = None,
) -> FirmProfile:
    """Read ``path`` as ``geocluster run`` would and describe it.

    Raises
    ------
    InputError, CRSError
        As :func:`geocluster.read_firms` (the file cannot be read, no coordinates, ...).
    """
    path = Path(path)
    extra: dict[str, Any] = {}
    if encoding is not None:
        extra["encoding"] = encoding
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        firms = read_firms(path, lon=lon, lat=lat, id=id, crs=crs, on_invalid="drop",
                           layer=layer, **extra)
    info = firms.attrs.get("geocluster", {})
    n_dropped, n_rows, reason, notes = 0, len(firms), None, []
    for w in caught:
        text = str(w.message)
        match = re.search(r"dropped (\d+) of (\d+) rows from .*?: (.*)", text, flags=re.DOTALL)
        if match:
            n_dropped, n_rows = int(match.group(1)), int(match.group(2))
            reason = match.group(3).rstrip(".")
        else:
            notes.append(text)
    coords = info.get("coordinates")
    profile = FirmProfile(
        path=path, firms=firms, n_rows=n_rows, n_dropped=n_dropped, drop_reason=reason,
        coordinates=tuple(coords) if coords else None,
        crs=firms.crs.to_string() if firms.crs is not None else "none", notes=notes,
    )
    skip = {firms.geometry.name, *(coords or ())}
    table = pd.DataFrame(firms.drop(columns=firms.geometry.name))
    for name in table.columns:
        series = _hashable(table[name])
        try:
            profile.columns.append(_describe(str(name), series))
        except Exception as exc:  # noqa: BLE001 - an odd column must not stop the profile
            profile.columns.append({"name": str(name), "kind": str(series.dtype),
                                    "summary": f"(not summarised: {type(exc).__name__})",
                                    "distinct": None, "missing": None})
            continue
        if name in skip:
            continue
        found = _sentinels(series)
        if found:
            profile.sentinels[str(name)] = found
        if _id_like(series) and series.notna().all() and series.is_unique:
            profile.id_candidates.append(str(name))
        if _obvious_id(str(name)) and str(name) != id:
            dup = series.dropna().duplicated(keep=False)
            if dup.any():
                values = series.dropna()[dup].unique()[:3].tolist()
                profile.id_duplicates[str(name)] = {
                    "duplicated": int(dup.sum()), "examples": values}
    profile.name_column = _name_column(table, skip)
    _locations(profile)
    _study_area(profile)
    return profile


def _hashable(series: pd.Series) -> pd.Series:
    """Lists, arrays and dicts in a column (Parquet, GeoJSON) as text, so they can be counted."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object).where(series.notna(), None)
    if series.dtype != object:
        return series
    odd = series.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
    if not odd.any():
        return series
    return series.map(lambda v: repr(v.tolist() if isinstance(v, np.ndarray) else v)
                      if isinstance(v, (list, tuple, dict, set, np.ndarray)) else v)


def _describe(name: str, series: pd.Series) -> dict[str, Any]:
    n = len(series)
    missing = float(series.isna().mean()) if n else 0.0
    distinct = int(series.nunique(dropna=True))
    tail = f"{distinct} distinct, {missing:.0%} missing"
    if pd.api.types.is_bool_dtype(series):
        kind, summary = "boolean", tail
    elif pd.api.types.is_numeric_dtype(series):
        kind = "integer" if pd.api.types.is_integer_dtype(series) or (
            series.dropna().map(float.is_integer).all() if series.notna().any() else False
        ) else "number"
        values = series.dropna()
        summary = (f"{_num(values.min())} to {_num(values.max())}, " if len(values) else "") + tail
    elif pd.api.types.is_datetime64_any_dtype(series):
        kind, summary = "date", tail
    else:
        numeric = pd.to_numeric(series, errors="coerce")
        share = float(numeric.notna().sum() / max(series.notna().sum(), 1))
        kind = "text"
        if share >= 0.5 and numeric.notna().any():
            kind = "text*"
            tail += (f"; {share:.0%} of the values are numbers ({_num(numeric.min())} to "
                     f"{_num(numeric.max())}), the rest are text")
        summary = tail
    return {"name": name, "kind": kind, "summary": summary, "distinct": distinct,
            "missing": missing}


def _num(value) -> str:
    value = float(value)
    return f"{int(value)}" if value.is_integer() else f"{value:.6g}"


def _sentinels(series: pd.Series) -> dict[str, int]:
    """Counts of sentinel codes in a numeric or numeric-looking column."""
    found: dict[str, int] = {}
    if pd.api.types.is_bool_dtype(series):
        return found
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna().to_numpy(dtype=float)
        for code in SENTINEL_NUMBERS:
            count = int(np.sum(values == code))
            if count:
                found[str(code)] = count
        return found
    if not (pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)):
        return found
    present = series.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) == 0 or numeric.notna().mean() < 0.5:
        return found  # a text column: its words are data, not sentinels
    for code in SENTINEL_NUMBERS:
        count = int((numeric == code).sum())
        if count:
            found[str(code)] = count
    text = present[numeric.isna()].astype(str)
    for value, count in text.value_counts().items():
        if value.strip().casefold() in _SENTINEL_TEXTS:
            found[value] = int(count)
    return found


def _id_like(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_integer_dtype(series):
        return True
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _obvious_id(name: str) -> bool:
    lowered = name.casefold()
    return lowered in ID_NAMES or lowered.endswith("_id")


def _name_column(table: pd.DataFrame, skip: set) -> str | None:
    lowered = {str(c).casefold(): str(c) for c in table.columns if c not in skip}
    for name in NAME_COLUMNS:
        if name in lowered:
            return lowered[name]
    return None


def _locations(profile: FirmProfile) -> None:
    geom = profile.firms.geometry
    xy = pd.DataFrame({"x": geom.x.to_numpy(), "y": geom.y.to_numpy()})
    shared = xy.duplicated(keep=False)
    profile.shared_firms = int(shared.sum())
    profile.shared_locations = int(xy[shared].drop_duplicates().shape[0])


def _study_area(profile: FirmProfile) -> None:
    firms = profile.firms
    if firms.crs is None or len(firms) == 0:
        return
    points = firms.geometry if firms.crs.equals("EPSG:4326") else firms.geometry.to_crs(4326)
    x, y = points.x.to_numpy(), points.y.to_numpy()
    west, south, east, north = _US_BOX
    inside_box = (x >= west) & (x <= east) & (y >= south) & (y <= north)
    profile.in_us = bool(inside_box.mean() >= 0.5)
    if not profile.in_us:
        return
    counties = load_counties("conus")
    hits = counties.sindex.query(np.asarray(points.array), predicate="intersects")
    inside = np.zeros(len(points), dtype=bool)
    inside[hits[0]] = True
    profile.outside_counties = int((~inside).sum())
    if profile.outside_counties > 0.5 * len(firms):
        profile.in_us = False  # mostly Alaska, Hawaii, territories: counties do not fit


# --- the suggested config ----------------------------------------------------------------

_GUESSES = {
    "industry": ("industry", "naics", "naics_code", "sector", "sic", "sic_code", "industry_code"),
    "employees": ("employees", "employment", "emp", "n_employees", "num_employees", "staff",
                  "headcount", "workers"),
    "patents": ("patents_5y", "patents", "n_patents", "patent_count"),
    "age": ("age", "firm_age", "years_in_business"),
}


def suggest_config(profile: FirmProfile, config_path: str | os.PathLike | None = None, *,
                   lon: str | None = None, lat: str | None = None, id: str | None = None,  # noqa: A002
                   crs: str | int = "EPSG:4326", layer: str | None = None,
                   encoding: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """A study config for the profiled file, and the reasons for its choices (comment lines).

    The firm path is written relative to the config's folder when the file lies under
    it, else absolute.
    """
    reasons: list[str] = []
    firms_cfg: dict[str, Any] = {"path": _shown_path(profile.path, config_path)}
    if layer is not None:
        firms_cfg["layer"] = layer
    if encoding is not None:
        firms_cfg["encoding"] = encoding
    if profile.coordinates:
        firms_cfg["lon"], firms_cfg["lat"] = profile.coordinates
    firms_cfg["crs"] = crs if isinstance(crs, int) else str(crs)
    if not isinstance(crs, int) and str(crs).upper() != "EPSG:4326":
        reasons.append(f"crs = {crs!r}: as given to validate with --crs.")
    _suggest_id(profile, id, firms_cfg, reasons)
    if profile.n_dropped:
        firms_cfg["on_invalid"] = "drop"
        reasons.append(f"on_invalid = \"drop\": {profile.n_dropped} of {profile.n_rows} rows "
                       f"have no usable location ({profile.drop_reason}).")
    if profile.name_column:
        firms_cfg["name"] = profile.name_column
    na_values = _missing_codes(profile.sentinels)
    if na_values:
        firms_cfg["na_values"] = na_values
        reasons.append(f"na_values = {na_values}: codes that registers use for 'missing', found in "
                       f"{', '.join(repr(c) for c in profile.sentinels)}; they are read as "
                       "missing (remove any that is a real value).")
    firms_cfg.update(_suggest_columns(profile, na_values, reasons))
    config: dict[str, Any] = {
        "study": {"name": f"firms of {profile.path.name}", "seed": 2026},
        "firms": firms_cfg,
    }
    if profile.shared_firms:
        config["weights"] = {"coincident": "jitter"}
        reasons.append(f"[weights] coincident = \"jitter\": {profile.shared_firms} firms share "
                       f"{_count(profile.shared_locations, 'location')}; jitter (seeded) separates them "
                       "for distance and knn weights.")
    if not profile.in_us:
        config["areal"] = {"units": "grid"}
        reasons.append("[areal] units = \"grid\": the firms are not in the contiguous US, so "
                       "the default US counties do not fit.")
    elif profile.outside_counties:
        reasons.append(f"{profile.outside_counties} firms lie outside every contiguous-US county: "
                       "the areal step leaves them out (a warning); the point steps use them.")
    return config, reasons


def _shown_path(path: Path, config_path: str | os.PathLike | None) -> str:
    """The firm path relative to the config's folder when it lies under it, else absolute."""
    firm_path = path.resolve()
    if config_path is None:
        return str(firm_path)
    try:
        return firm_path.relative_to(Path(config_path).resolve().parent).as_posix()
    except ValueError:
        return str(firm_path)


def _suggest_id(profile: FirmProfile, id: str | None, firms_cfg: dict,  # noqa: A002
                reasons: list[str]) -> None:
    if id is not None:
        firms_cfg["id"] = id
    elif profile.id_candidates:
        obvious = [c for c in profile.id_candidates if _obvious_id(c)]
        if obvious:
            firms_cfg["id"] = obvious[0]
            reasons.append(f"id = {obvious[0]!r}: every firm has a different value.")
    for name, info in profile.id_duplicates.items():
        reasons.append(f"{name!r} is not used as id: {info['duplicated']} firms share an id.")


def _suggest_columns(profile: FirmProfile, na_values: list, reasons: list[str]) -> dict:
    """``[firms]`` industry/employees/patents/age for columns whose names say so."""
    table = profile.firms
    columns = {str(c).casefold(): str(c) for c in table.columns
               if c != table.geometry.name and c not in (profile.coordinates or ())}
    found = {}
    for key, names in _GUESSES.items():
        column = next((columns[n] for n in names if n in columns), None)
        if column is None:
            continue
        if key != "industry":
            values = pd.to_numeric(table[column], errors="coerce")
            known = ~table[column].astype(str).str.strip().isin([str(c) for c in na_values])
            known &= ~values.isin([c for c in na_values if not isinstance(c, str)])
            values = values[known & table[column].notna()]
            unusable = [code for code in profile.sentinels.get(column, {})
                        if _as_code(code) not in na_values]
            if values.isna().any() or unusable or (values < 0).any():
                reasons.append(f"{key} not set: column {column!r} holds "
                               + ("codes such as " + ", ".join(map(repr, unusable)) if unusable
                                  else "text or negative values")
                               + "; recode unknowns as empty cells (or list them in [firms] "
                               f"na_values), then set [firms] {key} = {column!r}.")
                continue
        found[key] = column
    return found


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _as_code(text: str) -> str | int | float:
    """A sentinel as found (text) -> the value written to ``na_values``."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _missing_codes(sentinels: dict[str, dict[str, int]]) -> list[str | int | float]:
    """The codes to read as missing: negative numbers and texts (not 9999-style positives,
    which may be real values)."""
    codes: set = set()
    for found in sentinels.values():
        for text in found:
            code = _as_code(text)
            if isinstance(code, str) or code < 0:
                codes.add(code)
    return sorted(codes, key=lambda c: (isinstance(c, str), str(c) if isinstance(c, str) else c))


def config_toml(config: dict[str, Any], reasons: list[str], source: str) -> str:
    """``config`` as TOML (tomli_w) under a comment header with ``reasons``."""
    header = [f"# Study config written by 'geocluster validate {_one_line(source)}'.",
              "# Run it with: geocluster run <this file>. Every key is documented by "
              "'geocluster config'."]
    if reasons:
        header.append("# Choices made from the data:")
        header.extend(f"#  - {_one_line(r)}" for r in reasons)
    return "\n".join(header) + "\n\n" + tomli_w.dumps(config)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
