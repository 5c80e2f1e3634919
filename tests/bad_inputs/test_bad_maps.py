"""Bad-input corpus: interactive maps, ``gc.map`` and ``gc.save_map`` (engineer A).

Every case writes its data to ``tmp_path`` as a user would have them (firms as a CSV of
longitude/latitude read with ``gc.read_firms``, areal units as a GeoPackage), reads them
back, makes one mistake, and asserts the error class, words naming the problem, words
naming the remedy, that the input files are unchanged (bytes and modification time),
that the frames handed over are unchanged, and that no map file (or temporary file) is
left in the output folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from corpus import assert_no_output, raises_clearly, untouched
from geopandas.testing import assert_geodataframe_equal

import geocluster as gc
from geocluster.errors import CRSError, InputError

# ----------------------------------------------------------------------------- files


def firms_csv(tmp_path: Path, n: int = 12, **columns) -> Path:
    """A CSV of ``n`` firms in Ohio (lon/lat) with a name, an industry and employees."""
    rng = np.random.default_rng(5)
    table = pd.DataFrame({
        "firm_id": [f"F{k:03d}" for k in range(n)],
        "name": [f"Firm {k}" for k in range(n)],
        "industry": rng.choice(["325", "334"], n),
        "employees": rng.integers(1, 500, n),
        "lon": rng.uniform(-84, -81, n),
        "lat": rng.uniform(39, 41, n),
    })
    for name, values in columns.items():
        table[name] = values
    path = tmp_path / "inputs" / "firms.csv"
    path.parent.mkdir(exist_ok=True)
    table.to_csv(path, index=False)
    return path


def units_gpkg(tmp_path: Path, crs="EPSG:4326", **columns) -> Path:
    """A GeoPackage of 6 square units with a value column ``lq``."""
    boxes = [shapely.box(-84 + i, 39 + j, -83 + i, 40 + j) for i in range(3) for j in range(2)]
    frame = gpd.GeoDataFrame({"unit": [f"u{k}" for k in range(6)],
                              "lq": np.linspace(0.5, 3, 6)}, geometry=boxes, crs="EPSG:4326")
    for name, values in columns.items():
        frame[name] = values
    path = tmp_path / "inputs" / "units.gpkg"
    path.parent.mkdir(exist_ok=True)
    frame.to_crs(crs).to_file(path, layer="units")
    return path


def read(path: Path) -> gpd.GeoDataFrame:
    if path.suffix == ".csv":
        return gc.read_firms(path, id="firm_id")
    return gpd.read_file(path, layer="units").set_index("unit")


def out_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir(exist_ok=True)
    return folder


def check_map_call(tmp_path, paths, frames, error, problem, remedy, call):
    """``call()`` raises ``error`` with ``problem`` and ``remedy``; files and frames are
    unchanged; the output folder stays empty."""
    before = [f.copy() for f in frames]
    out = out_folder(tmp_path)
    with untouched(*paths), raises_clearly(error, problem, remedy):
        m = call()
        gc.save_map(m, out / "map.html")  # not reached
    for old, new in zip(before, frames, strict=True):
        if isinstance(old, gpd.GeoDataFrame):
            assert_geodataframe_equal(old, new)
        else:
            pd.testing.assert_frame_equal(old, new)
    assert_no_output(out)


# ----------------------------------------------------------------------------- gc.map inputs

#: (id, what to do to the firms, gc.map keyword arguments, error, problem, remedy)
FIRM_CASES = [
    ("colour-column-missing", None, {"color": "sector"}, InputError,
     r"firms= has no column 'sector' \(named by color=\)",
     r"Available columns: firm_id, name, industry, employees, lon, lat\. "
     r"Use one of them, or leave color= out"),
    ("size-column-text", None, {"size": "name"}, InputError,
     r"size='name' must be a numeric column", r"e\.g\. employees"),
    ("size-negative", "negative", {"size": "employees"}, InputError,
     r"size='employees' has negative values", r"values >= 0"),
    ("popup-column-missing", None, {"popup": ["name", "revenue"]}, InputError,
     r"popup= names column 'revenue', which firms= does not have",
     r"Available columns: firm_id, name, industry, employees, lon, lat\. "
     r"Use one of them, or leave popup= out"),
    ("tooltip-column-missing", None, {"tooltip": "Name "}, InputError,
     r"tooltip= names column 'Name ', which firms= does not have", r"Use one of them"),
    ("popup-not-columns", None, {"popup": 5}, InputError,
     r"popup= must be a column name, a list of column names", r"popup=\['name'\]"),
    ("firms-a-plain-table", "plain", {}, InputError,
     r"firms= must be a GeoDataFrame; got DataFrame", r"gc\.read_firms\(\)"),
    ("firms-no-crs", "no-crs", {}, CRSError,
     r"firms= has no CRS", r"set_crs\('EPSG:4326'\)"),
    ("firms-metres-labelled-degrees", "metres", {}, CRSError,
     r"12 of 12 rows outside the range of longitude/latitude.*first: row 1, index 'F000'",
     r"set the right one with firms\.set_crs\(\.\.\., allow_override=True\)"),
    ("firms-empty", "empty", {}, InputError,
     r"firms= has 0 rows", r"Pass a frame with rows, or leave firms= out"),
    ("firms-all-without-geometry", "no-geometry", {}, InputError,
     r"no geometries to draw \(12 rows", r"gc\.read_firms\(\) builds them"),
    ("firms-polygons", "polygons", {}, InputError,
     r"firms= must hold points; found \['Polygon'\]", r"representative_point\(\)"),
    ("styles-without-firms", "none", {"color": "industry"}, InputError,
     r"color='industry' styles firms, but no firms= were given",
     r"Pass firms= \(a point GeoDataFrame\), or leave color= out"),
    ("tooltip-without-firms", "none", {"tooltip": ["name"]}, InputError,
     r"tooltip=\['name'\] styles firms, but no firms= were given", r"or leave tooltip= out"),
    ("tiles-unknown", None, {"tiles": "Google satellite"}, InputError,
     r"unknown base map tiles='Google satellite'",
     r"Use a name xyzservices knows, such as 'OpenStreetMap'.*or None"),
    ("tiles-not-a-name", None, {"tiles": 3}, InputError,
     r"tiles= must be a base map name", r"or None for no base map"),
    ("seed-negative", None, {"seed": -3}, InputError,
     r"seed=-3 must be None or a non-negative int", r"e\.g\. seed=1"),
    ("m-not-a-map", None, {"m": "map.html"}, InputError,
     r"m= must be a folium\.Map .*got str", r"Leave m= out to start a new map"),
]


def _spoil(firms: gpd.GeoDataFrame, how: str | None):
    if how is None:
        return firms
    if how == "negative":
        return firms.assign(employees=-firms["employees"])
    if how == "plain":
        return pd.DataFrame(firms.drop(columns="geometry"))
    if how == "no-crs":
        return firms.set_crs(None, allow_override=True)
    if how == "metres":
        return firms.to_crs("EPSG:5070").set_crs("EPSG:4326", allow_override=True)
    if how == "empty":
        return firms.iloc[:0]
    if how == "no-geometry":
        return firms.set_geometry(gpd.GeoSeries([None] * len(firms), index=firms.index,
                                                crs=firms.crs))
    if how == "polygons":
        return firms.set_geometry(firms.to_crs("EPSG:5070").buffer(100).to_crs(4326))
    if how == "none":
        return None
    raise AssertionError(how)


@pytest.mark.parametrize(("how", "kwargs", "error", "problem", "remedy"),
                         [c[1:] for c in FIRM_CASES], ids=[c[0] for c in FIRM_CASES])
def test_bad_firm_inputs(tmp_path, how, kwargs, error, problem, remedy):
    path = firms_csv(tmp_path)
    firms = _spoil(read(path), how)
    frames = [] if firms is None else [firms]
    check_map_call(tmp_path, [path], frames, error, problem, remedy,
                   lambda: gc.map(firms=firms, **kwargs))


#: (id, gc.map keyword arguments built from the units, error, problem, remedy)
AREA_CASES = [
    ("lisa-not-from-local-moran", lambda u: {"lisa": u}, InputError,
     r"lisa= needs the column 'lisa_cluster'", r"pass the frame returned by gc\.local_moran\(\)"),
    ("hotspots-odd-labels", lambda u: {"hotspots": u.assign(gi_hotspot="Hot Spot")}, InputError,
     r"column 'gi_hotspot' has values \['Hot Spot'\] outside",
     r"pass the frame returned by gc\.getis_ord\(\)"),
    ("choropleth-column-missing", lambda u: {"choropleth": (u, "LQ")}, InputError,
     r"choropleth= has no column 'LQ'", r"Available columns: lq.*Use one of them"),
    ("choropleth-column-text", lambda u: {"choropleth": (u.assign(lq="high"), "lq")},
     InputError, r"choropleth column 'lq' must be numeric", r"color= on firms instead"),
    ("choropleth-bad-colormap", lambda u: {"choropleth": {"data": u, "column": "lq",
                                                           "cmap": "Redz"}},
     InputError, r"cmap='Redz' is not a matplotlib colormap", r"e\.g\. 'YlOrRd'"),
    ("choropleth-unknown-key", lambda u: {"choropleth": {"data": u, "column": "lq",
                                                          "colour": "red"}},
     InputError, r"choropleth= dict needs keys 'data' and 'column'", r"optional: scheme, k, cmap"),
    ("choropleth-one-class", lambda u: {"choropleth": {"data": u, "column": "lq", "k": 1}},
     InputError, r"choropleth k=1", r"integer >= 2"),
    ("clusters-not-a-frame", lambda u: {"clusters": [u]}, InputError,
     r"clusters= must be a GeoDataFrame of cluster polygons or a dict",
     r"\{layer name: GeoDataFrame\}"),
    ("density-not-a-surface", lambda u: {"density": u}, InputError,
     r"density= must be a DensitySurface from gc\.kde\(\)", r"'values' array, 'bounds' and 'crs'"),
]


@pytest.mark.parametrize(("make", "error", "problem", "remedy"),
                         [c[1:] for c in AREA_CASES], ids=[c[0] for c in AREA_CASES])
def test_bad_area_inputs(tmp_path, make, error, problem, remedy):
    path = units_gpkg(tmp_path)
    units = read(path)
    kwargs = make(units)
    frames = [units] + [v for v in kwargs.values() if isinstance(v, gpd.GeoDataFrame)
                        and v is not units]
    check_map_call(tmp_path, [path], frames, error, problem, remedy,
                   lambda: gc.map(tiles=None, **kwargs))


def test_some_rows_without_coordinates_warn_with_the_count(tmp_path):
    """Fine to proceed: drawn without them, with a warning that counts them."""
    path = firms_csv(tmp_path)
    firms = read(path)
    spoiled = firms.copy()
    spoiled.loc[spoiled.index[:3], "geometry"] = shapely.Point(np.nan, np.nan)
    before = spoiled.copy()
    out = out_folder(tmp_path)
    with untouched(path), pytest.warns(gc.errors.GeoclusterWarning,
                                       match=r"3 of 12 rows have no geometry"):
        m = gc.map(firms=spoiled, tiles=None)
    assert_geodataframe_equal(spoiled, before)
    (layer,) = [c for c in m._children.values() if type(c).__name__ == "GeoclusterLayer"]
    assert len(json.loads(layer.payload)["lat"]) == 9  # the three are left out, not null
    gc.save_map(m, out / "map.html")
    assert_no_output(out, allowed={"map.html"})


# ----------------------------------------------------------------------------- gc.save_map


@pytest.fixture
def a_map(tmp_path):
    path = firms_csv(tmp_path)
    return path, gc.map(firms=read(path), tiles=None)


def _read_only(path: Path) -> Path:
    path.write_text("previous map", encoding="utf-8")
    path.chmod(0o444)
    return path


#: (id, path inside the output folder -> target, files the folder keeps, problem, remedy)
SAVE_CASES = [
    ("target-is-a-folder", lambda out: (out / "maps").mkdir() or out / "maps", {"maps"},
     r"cannot write .*maps: it is a folder", r"Name a file, such as .*map\.html"),
    ("folder-missing", lambda out: out / "nowhere" / "map.html", set(),
     r"folder .*nowhere does not exist", r"Create it first, or save into an existing folder"),
    ("folder-is-a-file", lambda out: (out / "notes.txt").write_text("x") and
     out / "notes.txt" / "map.html", {"notes.txt"},
     r"notes\.txt is a file, not a folder", r"Choose a path inside a folder"),
    ("target-read-only", lambda out: _read_only(out / "map.html"), {"map.html"},
     r"cannot overwrite .*map\.html: the file is read-only",
     r"Make it writable \(chmod u\+w .*\) or save under another name"),
    ("name-too-long", lambda out: out / ("m" * 300 + ".html"), set(),
     r"cannot write .*m{300}\.html: File name too long",
     r"Choose a folder you can write to and a valid file name"),
    ("path-not-a-path", lambda out: 42, set(),
     r"path=42 must be a file path", r"a str or pathlib\.Path such as 'map\.html'"),
]


@pytest.mark.parametrize(("target", "keeps", "problem", "remedy"),
                         [c[1:] for c in SAVE_CASES], ids=[c[0] for c in SAVE_CASES])
def test_bad_save_targets(tmp_path, a_map, target, keeps, problem, remedy):
    source, m = a_map
    out = out_folder(tmp_path)
    path = target(out)
    existing = [out / name for name in sorted(keeps)]
    try:
        with untouched(source, *existing), raises_clearly(InputError, problem, remedy):
            gc.save_map(m, path)
        assert_no_output(out, allowed=keeps)
    finally:
        for p in existing:
            if p.is_file():
                p.chmod(0o644)


def test_save_needs_a_folium_map(tmp_path):
    out = out_folder(tmp_path)
    path = units_gpkg(tmp_path)
    units = read(path)
    with untouched(path), raises_clearly(InputError, r"save_map needs a folium\.Map.*got "
                                         r"GeoDataFrame", r"from gc\.map\(\)"):
        gc.save_map(units, out / "map.html")
    assert_no_output(out)


def test_self_contained_refuses_an_asset_it_cannot_inline(tmp_path, a_map):
    source, m = a_map
    out = out_folder(tmp_path)
    folium.Marker([40, -83], icon=folium.Icon(icon="info-sign")).add_to(m)
    with untouched(source), raises_clearly(
        InputError, r"cannot inline awesome-markers", r"save with self_contained=False"
    ):
        gc.save_map(m, out / "map.html")
    assert_no_output(out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into any folder")
def test_folder_without_write_permission(tmp_path, a_map):
    source, m = a_map
    out = out_folder(tmp_path)
    out.chmod(0o555)
    try:
        with untouched(source), raises_clearly(InputError, r"cannot write .*Permission denied",
                                               r"Choose a folder you can write to"):
            gc.save_map(m, out / "map.html")
        assert_no_output(out)
    finally:
        out.chmod(0o755)
