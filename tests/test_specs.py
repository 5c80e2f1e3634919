"""The spec mini-languages (exposure, units, focus terms): one parser each, shared by the
Python API and the study config."""

import subprocess
import sys
from pathlib import Path

import pytest

from geocluster.errors import InputError
from geocluster.robustness.specs import (
    ExposureSpec,
    FocusTerm,
    UnitsSpec,
    is_exposure_spec,
    parse_exposure_spec,
    parse_focus_term,
    parse_focus_terms,
    parse_units_spec,
)

# --- exposure ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected", "options"), [
    ("kde:25km", ExposureSpec("kde:25km", "kde", "25km"), {"method": "kde", "bandwidth": "25km"}),
    ("kde: 500m", ExposureSpec("kde: 500m", "kde", "500m"), {"method": "kde", "bandwidth": "500m"}),
    ("kde:CV", ExposureSpec("kde:CV", "kde", "cv"), {"method": "kde", "bandwidth": "cv"}),
    ("kde:scott", ExposureSpec("kde:scott", "kde", "scott"),
     {"method": "kde", "bandwidth": "scott"}),
    ("count:10km", ExposureSpec("count:10km", "count", "10km"),
     {"method": "count", "radius": "10km"}),
    ("lq@counties", ExposureSpec("lq@counties", "lq", None, UnitsSpec("counties", "counties")),
     {"method": "lq"}),
    ("lq@hex:50km", ExposureSpec("lq@hex:50km", "lq", None,
                                 UnitsSpec("hex:50km", "grid", "hex", "50km")), {"method": "lq"}),
])
def test_exposure_specs_parse(text, expected, options):
    spec = parse_exposure_spec(text, where="robustness")
    assert spec == expected
    assert spec.exposure_options() == options
    assert is_exposure_spec(text)


def test_exposure_spec_is_frozen():
    spec = parse_exposure_spec("kde:25km", where="robustness")
    with pytest.raises(AttributeError):
        spec.method = "count"  # type: ignore[misc]


@pytest.mark.parametrize(("text", "message"), [
    ("kde25", r"robustness: exposure spec 'kde25' is not one of 'kde:BANDWIDTH' \(e.g. "
              r"'kde:25km'\), 'count:RADIUS' \(e.g. 'count:10km'\) or 'lq@UNITS'"),
    ("gauss:5km", r"exposure spec 'gauss:5km' is not one of 'kde:BANDWIDTH'"),
    ("kde:abc", r"robustness: exposure spec 'kde:abc': the bandwidth 'abc' is not a distance; "
                r"write 'kde:25km' or 'kde:500m' or 'scott', 'silverman', 'cv'\. Accepted forms"),
    ("count:", r"exposure spec 'count:': the radius '' is not a distance; write 'count:25km'"),
    ("count:cv", r"the radius 'cv' is not a distance; write 'count:25km' or 'count:500m'\. "),
    ("count:-5km", r"the radius '-5km' is not a distance"),
    ("lq@", r"exposure spec 'lq@' names no units after 'lq@'; give 'counties'"),
    ("lq@countries", r"robustness: exposure spec 'lq@countries': units spec 'countries' is not "
                     r"one of 'counties', 'grid:SIZE'"),
    ("lq@grid", r"exposure spec 'lq@grid': units spec 'grid' needs a cell size: write "
                r"'grid:SIZE' \(e.g. 'grid:50km'\)"),
    (5, r"exposure spec 5 is not one of"),
])
def test_bad_exposure_specs_name_the_spec_and_the_forms(text, message):
    with pytest.raises(InputError, match=message):
        parse_exposure_spec(text, where="robustness")


def test_is_exposure_spec_tells_specs_from_columns():
    assert not is_exposure_spec("cluster")
    assert not is_exposure_spec("kde")  # a column may be called kde
    assert not is_exposure_spec(3)
    assert is_exposure_spec("kde:abc")  # written as a spec: the parser says what is wrong


# --- units -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kwargs", "expected"), [
    ("counties", {}, UnitsSpec("counties", "counties")),
    ("grid:50km", {}, UnitsSpec("grid:50km", "grid", "square", "50km")),
    ("hex: 25km", {}, UnitsSpec("hex: 25km", "grid", "hex", "25km")),
    ("grid", {"cell_size": "10km"}, UnitsSpec("grid", "grid", "square", "10km")),
    ("hex", {"cell_size": 5000}, UnitsSpec("hex", "grid", "hex", 5000)),
    ("grid:20km", {"cell_size": "10km"}, UnitsSpec("grid:20km", "grid", "square", "20km")),
    ("units.gpkg", {}, UnitsSpec("units.gpkg", "file", path=Path("units.gpkg"))),
    ("data/units", {}, UnitsSpec("data/units", "file", path=Path("data/units"))),
])
def test_units_specs_parse(text, kwargs, expected):
    assert parse_units_spec(text, where="robustness", **kwargs) == expected


def test_relative_units_file_is_taken_from_base(tmp_path):
    spec = parse_units_spec("units.gpkg", where="[areal] units", base=tmp_path)
    assert spec.path == tmp_path / "units.gpkg"
    absolute = tmp_path / "other.gpkg"
    assert parse_units_spec(str(absolute), where="x", base="/elsewhere").path == absolute


@pytest.mark.parametrize(("text", "kwargs", "message"), [
    ("countries", {}, r"robustness: units spec 'countries' is not one of 'counties', 'grid:SIZE' "
                      r"or 'hex:SIZE' \(e.g. 'hex:50km'\), 'grid' or 'hex' with a cell size, or "
                      r"the path of a polygon file"),
    ("hex", {}, r"units spec 'hex' needs a cell size: write 'hex:SIZE' \(e.g. 'hex:50km'\) or "
                r"give cell_size="),
    ("hex:", {}, r"units spec 'hex:' has no size after ':'; e.g. 'hex:50km'"),
    ("grid:50", {}, r"units spec 'grid:50': cell size='50' is not a distance"),
    ("grid:big", {}, r"units spec 'grid:big': cell size='big' is not a distance"),
    ("grid", {"cell_size": -1}, r"units spec 'grid': cell size=-1"),
    ("", {}, r"units spec '' must be text"),
    (None, {}, r"units spec None must be text"),
])
def test_bad_units_specs_name_the_spec_and_the_forms(text, kwargs, message):
    with pytest.raises(InputError, match=message):
        parse_units_spec(text, where="robustness", **kwargs)


def test_empty_where_gives_no_prefix():
    with pytest.raises(InputError, match=r"^units spec 'countries' is not one of"):
        parse_units_spec("countries", where="")


# --- focus terms -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("cluster", FocusTerm("cluster")),
    ("serial:cluster", FocusTerm("serial:cluster")),
    ("I(cluster ** 2)", FocusTerm("I(cluster ** 2)")),
    ("slope:cluster|serial=1", FocusTerm("slope:cluster|serial=1", "cluster", "serial", "1")),
    ("slope:cluster|serial=1@0.5",
     FocusTerm("slope:cluster|serial=1@0.5", "cluster", "serial", "1", 0.5)),
    ("slope: cluster | type = serial @ -1e-3",
     FocusTerm("slope: cluster | type = serial @ -1e-3", "cluster", "type", "serial", -0.001)),
])
def test_focus_terms_parse(text, expected):
    term = parse_focus_term(text, where="robustness")
    assert term == expected
    assert term.is_effect == (expected.variable is not None)


@pytest.mark.parametrize(("text", "message"), [
    ("slope:cluster", r"robustness: focus term 'slope:cluster' is not an effect "
                      r"'slope:VAR\|BY=GROUP' with an optional level '@AT'"),
    ("slope:cluster|serial", r"focus term 'slope:cluster\|serial' is not an effect"),
    ("slope:|serial=1", r"focus term 'slope:\|serial=1' is not an effect"),
    ("slope:cluster|serial=1@high", r"focus term 'slope:cluster\|serial=1@high': the level after "
                                    r"'@' must be a number, e.g. 'slope:cluster\|serial=1@0.5'"),
    ("slope:cluster|serial=1@nan", r"the level after '@' must be a number"),
    ("", r"focus term '' must be text: a coefficient name"),
    (3, r"focus term 3 must be text"),
])
def test_bad_focus_terms_name_the_form(text, message):
    with pytest.raises(InputError, match=message):
        parse_focus_term(text, where="robustness")


def test_focus_lists():
    assert parse_focus_terms(None, where="robustness") is None
    assert parse_focus_terms("cluster", where="robustness") == (FocusTerm("cluster"),)
    terms = parse_focus_terms(("cluster", "slope:cluster|serial=0"), where="robustness")
    assert [t.text for t in terms] == ["cluster", "slope:cluster|serial=0"]
    with pytest.raises(InputError, match=r"robustness: focus= is empty; name at least one term"):
        parse_focus_terms([], where="robustness")
    with pytest.raises(InputError, match=r"robustness: focus=\{'cluster'\} must be a term or a "
                       r"list of terms"):
        parse_focus_terms({"cluster"}, where="robustness")


def test_parsers_import_no_scientific_package():
    # the study config checks its keys with these parsers; `geocluster config` stays instant
    code = ("import sys, geocluster.robustness.specs; "
            "print(sorted(m for m in ('numpy', 'pandas', 'geopandas', 'shapely', 'scipy') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.strip() == "[]"


# --- building what a units spec describes ----------------------------------------------------


@pytest.fixture(scope="module")
def some_firms():
    import geocluster as gc

    return gc.datasets.make_firms(150, seed=2)


def test_build_units_counties_and_grids(some_firms):
    import geopandas as gpd

    import geocluster as gc
    from geocluster.robustness.measures import build_units

    counties = build_units("counties", some_firms, where="robustness")
    assert len(counties) == len(gc.datasets.load_counties("conus"))
    cells = build_units("hex:300km", some_firms, where="robustness")
    expected = gc.grid(some_firms, "300km", shape="hex", clip=True)
    assert cells.geom_equals(expected).all() and len(cells) == len(expected)
    bare = build_units("grid", some_firms, where="study", cell_size="300km")
    assert bare.geom_equals(gc.grid(some_firms, "300km", shape="square", clip=True)).all()
    spec = parse_units_spec("grid:300km", where="robustness")
    assert build_units(spec, some_firms, where="robustness").geom_equals(bare).all()
    given = gpd.GeoDataFrame(geometry=list(cells.geometry[:3]), crs=cells.crs)
    assert build_units(given, some_firms, where="robustness") is given


def test_build_units_reads_polygon_files(some_firms, tmp_path):
    import geocluster as gc
    from geocluster.robustness.measures import build_units

    cells = gc.grid(some_firms, "300km", shape="square", clip=True)
    path = tmp_path / "cells.gpkg"
    cells.to_file(path)
    read = build_units(parse_units_spec("cells.gpkg", where="[areal] units", base=tmp_path),
                       some_firms, where="[areal] units")
    assert len(read) == len(cells) and read.crs == cells.crs
    with pytest.raises(InputError, match=r"\[areal\] units: units spec 'missing.gpkg': not "
                       r"'counties', 'grid', 'hex' or an existing polygon file"):
        build_units("missing.gpkg", some_firms, where="[areal] units")
    no_crs = tmp_path / "nocrs.geojson"
    no_crs.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                      '"properties": {}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}')
    import geopandas as gpd

    if gpd.read_file(no_crs).crs is None:  # GeoJSON readers may assume WGS84
        with pytest.raises(InputError, match=r"has no CRS; set one"):
            build_units(str(no_crs), some_firms, where="x")
    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a geopackage")
    with pytest.raises(InputError, match=r"x: could not read the units file '.*broken.gpkg'"):
        build_units(str(broken), some_firms, where="x")
