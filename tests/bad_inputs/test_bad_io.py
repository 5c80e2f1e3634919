"""Bad-input corpus: reading firms (``gc.read_firms``) and building weights (``gc.weights``).

Every case asserts the error class, words naming the problem and words naming the remedy,
and that its input (file bytes and mtime, or the frame in memory) is unchanged. Cases that
are fine to proceed with assert the warning text instead. Bad files are made in ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import json
import re
import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from corpus import raises_clearly, untouched
from geopandas.testing import assert_geodataframe_equal
from libpysal.graph import Graph
from shapely.geometry import Point, Polygon

import geocluster as gc
from geocluster.errors import CRSError, GeoclusterWarning, InputError, WeightsError

GOOD_CSV = "id,name,lon,lat\na,Alpha,-71.06,42.36\nb,Beta,-71.10,42.40\nc,Gamma,-71.20,42.30\n"


@contextlib.contextmanager
def frame_untouched(frame):
    """The in-memory counterpart of ``untouched``: the frame equals its copy afterwards."""
    before = frame.copy()
    yield
    if isinstance(frame, gpd.GeoDataFrame):
        assert_geodataframe_equal(frame, before)
    else:
        pd.testing.assert_frame_equal(frame, before)


@contextlib.contextmanager
def warns_clearly(*patterns: str):
    """A GeoclusterWarning whose text matches every pattern (problem, count/rows, remedy)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        yield
    messages = [str(w.message) for w in record if issubclass(w.category, GeoclusterWarning)]
    assert any(
        all(re.search(p, m, flags=re.IGNORECASE | re.DOTALL) for p in patterns) for m in messages
    ), f"no GeoclusterWarning matching {patterns}; got {messages}"
    others = [str(w.message) for w in record if not issubclass(w.category, GeoclusterWarning)]
    assert not others, f"raw library warnings leaked: {others}"


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def _points(lon, lat, crs=4326, **columns):
    return gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(lon, lat), crs=crs)


def _us(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"lon": rng.uniform(-120, -75, n), "lat": rng.uniform(30, 45, n)})


# --- files that cannot be read -----------------------------------------------------------------


def _missing(tmp_path):
    _write(tmp_path / "firms.csv", GOOD_CSV)
    return tmp_path / "frims.csv", {}


def _empty(tmp_path):
    return _write(tmp_path / "firms.csv", ""), {}


def _blank(tmp_path):
    return _write(tmp_path / "firms.csv", "\n\n  \n"), {}


def _header_only(tmp_path):
    return _write(tmp_path / "firms.csv", "id,lon,lat\n"), {}


def _folder(tmp_path):
    folder = tmp_path / "firms"
    folder.mkdir()
    _write(folder / "a.csv", GOOD_CSV)
    return folder, {}


def _xlsx(tmp_path):
    return _write(tmp_path / "firms.xlsx", "PK not really excel"), {}


def _corrupt_gpkg(tmp_path):
    return _write(tmp_path / "firms.gpkg", "this is not a geopackage"), {}


def _truncated_gzip(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_bytes(gzip.compress(GOOD_CSV.encode() * 50)[:40])
    return path, {}


def _binary(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_bytes(bytes(range(256)) * 8)
    return path, {}


def _zip_of_two(tmp_path):
    path = tmp_path / "firms.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", GOOD_CSV)
        archive.writestr("b.csv", GOOD_CSV)
    return path, {}


def _parquet_named_csv(tmp_path):
    path = tmp_path / "firms.csv"
    pd.DataFrame({"lon": [-71.0], "lat": [42.0]}).to_parquet(path)
    return path, {}


def _latin1_declared_utf8(tmp_path):
    return _write(tmp_path / "firms.csv", GOOD_CSV.replace("Beta", "Bêta"), "latin-1"), {
        "encoding": "utf-8"}


def _unknown_encoding(tmp_path):
    return _write(tmp_path / "firms.csv", GOOD_CSV), {"encoding": "klingon"}


def _ragged_semicolon(tmp_path):
    text = "id;lon;lat\na;-71.06;42.36\nb;-71.10;42.40;extra\n"
    return _write(tmp_path / "firms.csv", text), {}


def _json_nested(tmp_path):
    data = {"data": [{"id": "a", "lon": -71.0, "lat": 42.0}]}
    return _write(tmp_path / "firms.json", json.dumps(data)), {}


def _json_not_records(tmp_path):
    return _write(tmp_path / "firms.json", json.dumps([[-71.0, 42.0], [-72.0, 43.0]])), {}


def _json_broken(tmp_path):
    return _write(tmp_path / "firms.json", '[{"id": "a", "lon": -71.0,\n "lat": }]'), {}


def _geojson_no_features(tmp_path):
    text = json.dumps({"type": "FeatureCollection", "features": []})
    return _write(tmp_path / "firms.geojson", text), {}


def _geojson_no_features_key(tmp_path):
    return _write(tmp_path / "firms.geojson", json.dumps({"type": "FeatureCollection"})), {}


def _wkb_parquet_no_crs(tmp_path):
    path = tmp_path / "firms.parquet"
    wkb = gpd.GeoSeries([Point(-71, 42), Point(-72, 43)]).to_wkb()
    pd.DataFrame({"id": ["a", "b"], "geometry": wkb}).to_parquet(path)
    return path, {"crs": None}


def _wkb_parquet_garbage(tmp_path):
    path = tmp_path / "firms.parquet"
    wkb = list(gpd.GeoSeries([Point(-71, 42), Point(-72, 43)]).to_wkb())
    wkb[1] = b"\x01\x02garbage"
    pd.DataFrame({"id": ["a", "b"], "geometry": wkb}).to_parquet(path)
    return path, {}


def _shapefile_no_prj_no_crs(tmp_path):
    path = tmp_path / "firms.shp"
    _points([-71.0, -72.0], [42.0, 43.0], name=["a", "b"]).to_file(path)
    (tmp_path / "firms.prj").unlink()
    return path, {"crs": None}


def _two_layer_gpkg(tmp_path):
    path = tmp_path / "firms.gpkg"
    _points([-71.0], [42.0], name=["a"]).to_file(path, layer="firms_2020")
    _points([-72.0], [43.0], name=["b"]).to_file(path, layer="firms_2021")
    return path, {}


def _unknown_layer(tmp_path):
    path, _ = _two_layer_gpkg(tmp_path)
    return path, {"layer": "firms_2022"}


def _layer_for_csv(tmp_path):
    return _write(tmp_path / "firms.csv", GOOD_CSV), {"layer": "firms"}


FILE_CASES = {
    "missing file": (_missing, InputError, r"'.*frims\.csv' does not exist", r"check the path.*firms\.csv"),
    "empty file": (_empty, InputError, r"is empty \(0 bytes\)", r"export finished"),
    "blank lines only": (_blank, InputError, r"is empty", r"check the export"),
    "header only": (_header_only, InputError, r"has no rows", r"complete export"),
    "folder": (_folder, InputError, r"is a folder, not a firm file \(it holds a\.csv\)",
               r"path of one file"),
    "excel file": (_xlsx, InputError, r"unsupported file type '\.xlsx'", r"pandas\.read_excel"),
    "corrupt geopackage": (_corrupt_gpkg, InputError, r"could not read '.*firms\.gpkg' as GPKG",
                           r"file is complete"),
    "truncated gzip": (_truncated_gzip, InputError, r"gzip-compressed but cannot be decompressed",
                       r"file is complete"),
    "binary named csv": (_binary, InputError, r"holds binary data \(NUL bytes\), not CSV text",
                         r"give the firm table itself"),
    "zip of two files": (_zip_of_two, InputError, r"zip archive with 2 files \(a\.csv, b\.csv\)",
                         r"unpack it"),
    "parquet named csv": (_parquet_named_csv, InputError, r"is a Parquet file, not CSV",
                          r"rename it to end in \.parquet"),
    "latin-1 read as utf-8": (_latin1_declared_utf8, InputError,
                              r"not valid utf-8 text \(first bad byte on line 3\)",
                              r"encoding='cp1252'"),
    "unknown encoding": (_unknown_encoding, InputError, r"encoding='klingon' is not a known",
                         r"'latin-1'"),
    "ragged semicolon file": (_ragged_semicolon, InputError,
                              r"line 3 has 4 fields where the header has 3 \(semicolon-separated\)",
                              r"fix that line, or quote"),
    "json records under a key": (_json_nested, InputError,
                                 r"neither GeoJSON nor a list of records", r"under the key 'data'"),
    "json list of arrays": (_json_not_records, InputError, r"2 items are not records",
                            r"list of objects"),
    "broken json": (_json_broken, InputError, r"not valid JSON: .* at line 2", r"fix the file"),
    "geojson without features": (_geojson_no_features, InputError, r"GeoJSON without features",
                                 r"check the export"),
    "geojson without a features list": (_geojson_no_features_key, InputError,
                                        r"FeatureCollection without a 'features' list",
                                        r"check the export"),
    "wkb parquet and crs=None": (_wkb_parquet_no_crs, CRSError,
                                 r"WKB geometries in column 'geometry' but no GeoParquet metadata",
                                 r"crs='EPSG:4326'"),
    "undecodable wkb": (_wkb_parquet_garbage, InputError,
                        r"1 values cannot be decoded \(rows 2\)", r"lon= and lat="),
    "shapefile without prj, crs=None": (_shapefile_no_prj_no_crs, CRSError,
                                        r"shapefile without its \.prj", r"crs='EPSG:4326'"),
    "two-layer geopackage": (_two_layer_gpkg, InputError,
                             r"has 2 layers: 'firms_2020' \(Point\), 'firms_2021' \(Point\)",
                             r"layer='\.\.\.' \(in a study: \[firms\] layer"),
    "unknown layer": (_unknown_layer, InputError, r"no layer 'firms_2022'",
                      r"layers are 'firms_2020', 'firms_2021'. Pass one"),
    "layer for a csv": (_layer_for_csv, InputError, r"layer='firms' applies to multi-layer",
                        r"remove layer="),
}


@pytest.mark.parametrize("case", FILE_CASES, ids=list(FILE_CASES))
def test_unreadable_files(tmp_path, case):
    make, error, problem, remedy = FILE_CASES[case]
    path, kwargs = make(tmp_path)
    with untouched(path, tmp_path), raises_clearly(error, problem, remedy):
        gc.read_firms(path, **kwargs)


# --- tables whose values are wrong -------------------------------------------------------------

# (file text, read_firms options, error, problem, remedy); line numbers count the header as 1.
TABLE_CASES = {
    "swapped lat/lon": (
        "id,lon,lat\na,37.77,-122.41\nb,47.61,-122.33\n", {}, InputError,
        r"latitude column 'lat' has values beyond \+-90 \(lines 2, 3.*look swapped",
        r"lon='lat', lat='lon'"),
    "metres read as degrees": (
        "id,x,y\na,-2200000,1900000\nb,2000000,2400000\nc,1000000,2000000\n", {}, InputError,
        r"3 of 3 rows have coordinates far beyond degrees.*metres or feet.*CRS 'EPSG:4326' may be wrong",
        r"crs='EPSG:5070'"),
    "out of range": (
        "id,lon,lat\na,-71.06,42.36\nb,-222.0,42.40\nc,-71.2,42.3\n", {}, InputError,
        r"1 rows have coordinates outside latitude \[-90, 90\] / longitude \[-180, 180\] \(line 3\)",
        r"on_invalid='drop'"),
    "placeholder -999 among coordinates": (
        "id,lon,lat\na,-71.06,42.36\nb,-999,-999\nc,-71.2,42.3\n", {}, InputError,
        r"outside latitude.*\(line 3\); values such as -999 are placeholders",
        r"leave those cells empty"),
    "sentinel-only latitude column": (
        "id,lon,lat\na,-71.06,-999\nb,-71.10,-999\nc,-71.2,-999\n", {}, InputError,
        r"every value of 'lat' is -999, which looks like a placeholder", r"geocode the firms"),
    "missing coordinates": (
        "id,lon,lat\na,-71.06,42.36\nb,,42.40\nc,-71.2,\n", {}, InputError,
        r"2 rows have missing coordinates \(lines 3, 4\)", r"on_invalid='drop'"),
    "no coordinates at all": (
        "id,lon,lat\na,,\nb,,\n", {"on_invalid": "drop"}, InputError,
        r"2 rows have missing coordinates.*No row has valid coordinates",
        r"lon=/lat= name the coordinate columns"),
    "all rows at null island": (
        "id,lon,lat\na,0,0\nb,0,0\nc,0,0\n", {}, InputError,
        r"all 3 rows are at \(0, 0\) \('null island'", r"geocode the firms"),
    "non-numeric coordinate": (
        "id,lon,lat\na,-71.06,42.36\nb,-71.10,north\n", {}, InputError,
        r"column 'lat' has 1 non-numeric values \(line 3: \['north'\]\)", r"fix those values"),
    "no latitude column": (
        "id,lon,breite\na,-71.06,42.36\n", {}, InputError,
        r"no latitude column found \(looked for lat, latitude, y", r"name it with lat="),
    "two longitude columns": (
        "Lon,lon,lat\n-71.06,-71.06,42.36\n", {}, InputError,
        r"columns 'Lon', 'lon' all look like the longitude", r"name the right one with lon="),
    "named column missing": (
        "id,lon,lat\na,-71.06,42.36\n", {"lon": "Lon"}, InputError,
        r"the longitude column 'Lon' does not exist", r"did you mean lon='lon'"),
    "duplicate ids": (
        "id,lon,lat\na,-71.06,42.36\nb,-71.10,42.40\na,-71.2,42.3\n", {"id": "id"}, InputError,
        r"id column 'id' has 1 duplicate ids \(e\.g\. \['a'\] at lines 2, 4\)",
        r"fix the duplicates"),
    "duplicate ids with leading zeros": (
        "id,lon,lat\n007,-71.06,42.36\n7,-71.10,42.40\n007,-71.2,42.3\n", {"id": "id"}, InputError,
        r"1 duplicate ids \(e\.g\. \['007'\] at lines 2, 4\)", r"ids must be unique"),
    "missing ids": (
        "id,lon,lat\na,-71.06,42.36\n,-71.10,42.40\n", {"id": "id"}, InputError,
        r"id column 'id' is missing for 1 rows \(line 3\)", r"fill them in"),
    "unknown id column": (
        "id,lon,lat\na,-71.06,42.36\n", {"id": "firm"}, InputError,
        r"the id column 'firm' does not exist", r"name an existing column with id="),
    "unknown crs": (
        GOOD_CSV, {"crs": "EPSG:99999999"}, CRSError,
        r"crs='EPSG:99999999' is not a CRS pyproj knows", r"'EPSG:4326'"),
    "crs=None for columns": (
        GOOD_CSV, {"crs": None}, CRSError, r"crs=None", r"crs='EPSG:4326'"),
    "unknown on_invalid": (
        GOOD_CSV, {"on_invalid": "skip"}, InputError, r"on_invalid='skip' is not an option",
        r"'raise' or 'drop'"),
}


@pytest.mark.parametrize("case", TABLE_CASES, ids=list(TABLE_CASES))
def test_bad_tables(tmp_path, case):
    text, kwargs, error, problem, remedy = TABLE_CASES[case]
    path = _write(tmp_path / "firms.csv", text)
    with untouched(path), raises_clearly(error, problem, remedy):
        gc.read_firms(path, **kwargs)


def test_unreadable_file(tmp_path, monkeypatch):
    """A file the process may not read (permissions; simulated, as tests may run as root)."""
    path = _write(tmp_path / "firms.csv", GOOD_CSV)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(importlib.import_module("geocluster.io.load"), "open", refuse,
                        raising=False)  # the module that opens the file first
    with untouched(path), raises_clearly(InputError, r"cannot open '.*firms\.csv': Permission denied",
                                         r"check that the file is readable \(permissions\)"):
        gc.read_firms(path)


def test_metres_as_degrees_in_a_file_with_a_wrong_crs(tmp_path):
    path = tmp_path / "firms.gpkg"
    _points([-2.2e6, 2.0e6, 1.0e6], [1.9e6, 2.4e6, 2.0e6], name=["a", "b", "c"]).to_file(path)
    with untouched(path), raises_clearly(
        InputError, r"3 of 3 rows .* at row 1\).*CRS 'EPSG:4326' may be wrong",
        r"gdf\.set_crs\('EPSG:xxxx', allow_override=True\)",
    ):
        gc.read_firms(path)


def test_non_point_geometries_in_a_file(tmp_path):
    path = tmp_path / "firms.gpkg"
    square = Polygon([(-71, 42), (-71, 42.1), (-70.9, 42.1), (-70.9, 42)])
    gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[Point(-71, 42), square], crs=4326).to_file(path)
    with untouched(path), raises_clearly(
        InputError, r"1 geometries are not points \(Polygon; row 2\)", r"representative_point"
    ):
        gc.read_firms(path)


def test_mixed_type_ids_duplicate_after_normalising():
    table = pd.DataFrame({"id": [1, "1", 2], "lon": [-71.0, -71.1, -71.2], "lat": [42.0, 42.1, 42.2]})
    with frame_untouched(table), warns_clearly(r"mixes numbers and text \(2 of 3"), raises_clearly(
        InputError, r"1 duplicate ids \(e\.g\. \['1'\] at index 0, 1\)", r"fix the duplicates"
    ):
        gc.read_firms(table, id="id")


def test_geodataframe_without_crs():
    gdf = gpd.GeoDataFrame({"id": ["a"]}, geometry=[Point(-71, 42)])
    with frame_untouched(gdf), raises_clearly(CRSError, r"has no CRS", r"set_crs\('EPSG:4326'\)"):
        gc.read_firms(gdf)


def test_swapped_geodataframe():
    gdf = _points([37.77, 47.61], [-122.41, -122.33])
    with frame_untouched(gdf), raises_clearly(
        InputError, r"latitude \(y\) has values beyond \+-90.*look swapped", r"points_from_xy"
    ):
        gc.read_firms(gdf)


# --- fine to proceed with: the warning says what and how many ----------------------------------


def test_gzip_named_csv_warns(tmp_path):
    path = tmp_path / "firms.csv"
    path.write_bytes(gzip.compress(GOOD_CSV.encode()))
    with untouched(path), warns_clearly(r"gzip-compressed although its name ends in \.csv",
                                        r"rename it to firms\.csv\.gz"):
        assert gc.read_firms(path, id="id").index.tolist() == ["a", "b", "c"]


def test_latin1_file_falls_back_with_a_warning(tmp_path):
    path = _write(tmp_path / "firms.csv", GOOD_CSV.replace("Beta", "Bêta"), "latin-1")
    with untouched(path), warns_clearly(r"not UTF-8 \(first non-UTF-8 byte on line 3\)",
                                        r"encoding='latin-1'"):
        assert gc.read_firms(path)["name"].tolist() == ["Alpha", "Bêta", "Gamma"]


@pytest.mark.parametrize("sep", [";", "\t"])
def test_other_separators_are_read(tmp_path, sep):
    path = _write(tmp_path / "firms.csv", GOOD_CSV.replace(",", sep))
    with untouched(path), warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gc.read_firms(path, id="id").index.tolist() == ["a", "b", "c"]


def test_leading_zeros_are_not_duplicates(tmp_path):
    path = _write(tmp_path / "firms.csv", "id,zip,lon,lat\n007,02139,-71.06,42.36\n7,2139,-71.1,42.4\n")
    with untouched(path), warnings.catch_warnings():
        warnings.simplefilter("error")
        firms = gc.read_firms(path, id="id")
    assert firms.index.tolist() == ["007", "7"] and firms["zip"].tolist() == ["02139", "2139"]


def test_json_records_are_read(tmp_path):
    path = _write(tmp_path / "firms.json", json.dumps([{"id": "a", "lon": -71.0, "lat": 42.0}]))
    with untouched(path):
        assert gc.read_firms(path, id="id").index.tolist() == ["a"]


def test_wkb_parquet_warns_and_decodes(tmp_path):
    path = tmp_path / "firms.parquet"
    wkb = gpd.GeoSeries([Point(-71, 42), Point(-72, 43)]).to_wkb()
    pd.DataFrame({"id": ["a", "b"], "geometry": wkb}).to_parquet(path)
    with untouched(path), warns_clearly(r"plain Parquet \(no GeoParquet metadata\); decoded its WKB",
                                        r"pass crs= if they are in another CRS"):
        assert gc.read_firms(path, id="id").geometry.x.tolist() == [-71.0, -72.0]


def test_shapefile_without_prj_uses_crs_with_a_warning(tmp_path):
    path = tmp_path / "firms.shp"
    _points([-71.0, -72.0], [42.0, 43.0], name=["a", "b"]).to_file(path)
    (tmp_path / "firms.prj").unlink()
    with untouched(path), warns_clearly(r"shapefile without its \.prj file.*crs='EPSG:4326'",
                                        r"pass the right one"):
        assert gc.read_firms(path).crs.to_epsg() == 4326


def test_null_island_warns_with_count_and_line(tmp_path):
    table = pd.concat([_us(), pd.DataFrame({"lon": [0.0], "lat": [0.0]})], ignore_index=True)
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    with untouched(path), warns_clearly(r"1 of 401 firms are at exactly \(0, 0\).*line 402",
                                        r"fix their geocoding, or pass on_invalid='drop'"):
        gc.read_firms(path)


def test_far_point_warns_with_count_and_line(tmp_path):
    table = pd.concat([_us(), pd.DataFrame({"lon": [151.2], "lat": [-33.9]})], ignore_index=True)
    path = tmp_path / "firms.csv"
    table.to_csv(path, index=False)
    with untouched(path), warns_clearly(r"1 of 401 firms lie far from all the others \(line 402",
                                        r"check their geocoding"):
        gc.read_firms(path)


def test_drop_warns_with_count_and_lines(tmp_path):
    path = _write(tmp_path / "firms.csv",
                  "id,lon,lat\na,-71.06,42.36\nb,,42.40\nc,-222,42.3\nd,0,0\ne,-71.2,42.3\n")
    with untouched(path), warns_clearly(
        r"dropped 3 of 5 rows.*1 rows have missing coordinates \(line 3\).*"
        r"1 rows have coordinates outside .*\(line 4\).*1 rows are at \(0, 0\).*\(line 5\)"
    ):
        assert gc.read_firms(path, id="id", on_invalid="drop").index.tolist() == ["a", "e"]


def test_degrees_read_as_metres_warns(tmp_path):
    path = _write(tmp_path / "firms.csv", GOOD_CSV)
    with untouched(path), warns_clearly(
        r"all 3 firms have coordinates within \+-180 / \+-90 although the CRS 'EPSG:5070' is "
        r"projected.*look like degrees", r"pass crs='EPSG:4326'",
    ):
        gc.read_firms(path, crs="EPSG:5070")


def test_duplicates_in_an_obvious_id_column_warn(tmp_path):
    path = _write(tmp_path / "firms.csv", "company_id,lon,lat\nx,-71,42\ny,-71.1,42.1\nx,-71.2,42.2\n")
    with untouched(path), warns_clearly(
        r"'company_id' looks like a firm id but has 1 duplicate values \(e\.g\. \['x'\] at lines 2, 4\)",
        r"pass id='company_id'",
    ):
        gc.read_firms(path)


# --- weights -------------------------------------------------------------------------------


def _three_points():
    return _points([-71.00, -71.01, -71.02], [42.0, 42.0, 42.0])


@pytest.mark.parametrize(
    "spec, problem",
    [("queens", r"unknown weights spec 'queens'"),
     ("knn:x", r"unknown weights spec 'knn:x'"),
     ("knn:0", r"'knn:0': K must be at least 1"),
     ("distance:25 miles", r"'distance:25 miles'.*is not a distance"),
     ("distance:-5km", r"'distance:-5km'"),
     ("kernel:gauss:5km", r"unknown kernel 'gauss'"),
     (8, r"spec=8 is not a weights specification")],
)
def test_bad_weights_specs(spec, problem):
    pts = _three_points()
    with frame_untouched(pts), raises_clearly(WeightsError, problem, r"valid forms are|use 'queen'"):
        gc.weights(pts, spec)


def test_knn_k_too_big():
    pts = _three_points()
    with frame_untouched(pts), raises_clearly(
        WeightsError, r"'knn:6': K must be between 1 and n-1 = 2 for 3 units",
        r"use a smaller K \(e\.g\. 'knn:2'\) or more units",
    ):
        gc.weights(pts, "knn:6")


def test_distance_too_small_leaves_isolates():
    pts = _three_points()  # about 830 m apart
    with frame_untouched(pts), warns_clearly(
        r"'distance:100m': 3 of 3 units have no neighbours.*3 connected components",
        r"a larger distance or a 'knn:K' spec",
    ):
        gc.weights(pts, "distance:100m")
    with frame_untouched(pts), raises_clearly(
        WeightsError, r"3 of 3 units have no neighbours", r"larger distance.*isolates='keep'"
    ):
        gc.weights(pts, "distance:100m", isolates="raise")


def test_graph_ids_do_not_match():
    pts = _three_points()
    graph = Graph.build_knn(_points([0, 1, 2, 3], [0, 1, 0, 1], crs=3857).geometry, k=1)
    with frame_untouched(pts), raises_clearly(
        WeightsError, r"Graph \(4 ids\) does not match the frame \(3 rows\).*Graph ids not in the frame: \[3\]",
        r"gc\.weights\(gdf, spec\)",
    ):
        gc.weights(pts, graph)


def test_coincident_points():
    pts = _points([-71.0, -71.0, -71.01, -71.02], [42.0, 42.0, 42.0, 42.01])
    with frame_untouched(pts), raises_clearly(
        WeightsError, r"'knn:1': 2 of 4 units share a location.*1 distinct locations",
        r"coincident='jitter'",
    ):
        gc.weights(pts, "knn:1")


def test_contiguity_of_points():
    pts = _three_points()
    with frame_untouched(pts), raises_clearly(WeightsError, r"'queen': contiguity needs polygons",
                                              r"for points use 'knn:K'"):
        gc.weights(pts, "queen")


def test_distance_weights_without_crs():
    pts = gpd.GeoDataFrame(geometry=[Point(0, 0), Point(1, 0), Point(2, 0)])
    with frame_untouched(pts), raises_clearly(CRSError, r"'distance:1km' measures distances, but the frame has no CRS",
                                              r"gdf\.set_crs"):
        gc.weights(pts, "distance:1km")


def test_weights_frame_problems():
    pts = _three_points()
    with frame_untouched(pts), raises_clearly(WeightsError, r"transform='z' is not one of",
                                              r"pass one of them"):
        gc.weights(pts, "knn:1", transform="z")
    dup = pts.set_axis([0, 0, 1])
    with frame_untouched(dup), raises_clearly(InputError, r"duplicate labels \(e\.g\. \[0\]\)",
                                              r"reset_index\(\) or set_index\(\)"):
        gc.weights(dup, "knn:1")
    one = pts.iloc[:1]
    with frame_untouched(one), raises_clearly(WeightsError, r"at least 2 units; the frame has 1",
                                              r"two or more units"):
        gc.weights(one, "knn:1")
    holes = pts.copy()
    holes.loc[1, "geometry"] = None
    with frame_untouched(holes), raises_clearly(InputError, r"1 of 3 units have missing or empty geometries \(ids \[1\]\)",
                                                r"drop or fix them"):
        gc.weights(holes, "knn:1")
