"""Tests of geocluster.viz.maps at the level of the folium objects and the written HTML.

The browser tests (tests/test_maps_browser.py) open the saved files in Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from importlib import resources

import folium
import geopandas as gpd
import mapclassify
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import Transformer

import geocluster as gc
from geocluster._base import plotting
from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.viz import assets
from geocluster.viz import legend as legend_module
from geocluster.viz import maps as map_module
from geocluster.viz.assets import NETWORK_LOAD_RE, safe_json
from geocluster.viz.layers import GeoclusterLayer, encode_column

XSS = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "</script><script>window.__xss=3</script>",
    "\"'><svg onload=window.__xss=4>",
]

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def firms():
    rng = np.random.default_rng(7)
    n = 300
    frame = gpd.GeoDataFrame(
        {
            "name": [f"Firm {i}" for i in range(n)],
            "innovator_type": rng.choice(["serial", "non-serial", "large"], n),
            "employees": rng.integers(1, 5000, n),
            "industry": rng.choice(["325", "334", "5415"], n),
        },
        geometry=gpd.points_from_xy(rng.uniform(-84, -80, n), rng.uniform(39, 42, n)),
        crs="EPSG:4326",
        index=pd.Index([f"f{i:03d}" for i in range(n)], name="firm_id"),
    )
    frame.loc[frame.index[: len(XSS)], "name"] = XSS
    return frame


@pytest.fixture(scope="module")
def units():
    """A 6 x 5 grid of square units with LISA, Gi* and a value column."""
    boxes = [shapely.box(-84 + i * 0.6, 39 + j * 0.6, -83.4 + i * 0.6, 39.6 + j * 0.6)
             for i in range(6) for j in range(5)]
    n = len(boxes)
    lisa = (["HH", "LL", "LH", "HL", "ns"] * 6)[:n]
    hot = list(plotting.HOTSPOT_COLORS)
    return gpd.GeoDataFrame(
        {
            "name": [f"Unit {k}" for k in range(n)],
            "lisa_cluster": lisa,
            "lisa_I": np.linspace(-1, 2, n),
            "lisa_p": np.linspace(0.001, 0.5, n),
            "gi_hotspot": [hot[k % len(hot)] for k in range(n)],
            "gi_z": np.linspace(-3, 3, n),
            "gi_p": np.linspace(0.001, 0.9, n),
            "lq": np.linspace(0.1, 3.0, n) ** 2,
        },
        geometry=boxes,
        crs="EPSG:4326",
        index=pd.Index([f"{k:05d}" for k in range(n)], name="fips"),
    )


class Surface:
    """A stand-in with the DensitySurface interface: values, bounds, crs (row 0 south)."""

    def __init__(self, values, bounds, crs="EPSG:5070", origin="lower"):
        self.values, self.bounds, self.crs, self.origin = values, bounds, crs, origin
        self.unit = "firms per km^2"
        self.bandwidth = 20_000.0


def bump_surface(origin="lower"):
    """A single sharp bump at a known place of an EPSG:5070 grid, off centre."""
    ny, nx = 60, 80
    values = np.zeros((ny, nx))
    row = 10 if origin == "lower" else ny - 1 - 10  # the bump is 10 rows above the south edge
    values[row, 60] = 5.0
    bounds = (1_000_000.0, 1_900_000.0, 1_400_000.0, 2_200_000.0)  # 5 km cells (Ohio)
    return Surface(values, bounds, origin=origin)


def layers_of(m):
    return [c for c in m._children.values() if isinstance(c, GeoclusterLayer)]


def resolved(data: dict) -> dict:
    """A layer payload with each spec's ``cols`` looked up in the shared ``columns`` (as the
    page's runtime does)."""
    for part in ("tooltip", "popup"):
        spec = data.get(part)
        if spec:
            spec["columns"] = [data["columns"][c] for c in spec["cols"]]
    return data


def payload(layer):
    return resolved(json.loads(layer.payload))


def decode(column, i):
    if "levels" in column:
        code = column["codes"][i]
        return None if code < 0 else column["levels"][code]
    return column["values"][i]


# ----------------------------------------------------------------------------- layers


def test_all_layers_in_order_first_area_shown(firms, units):
    m = gc.map(firms=firms, lisa=units, hotspots=units, choropleth=(units, "lq"),
               density=bump_surface(), clusters=units.iloc[:3], tiles=None)
    assert isinstance(m, folium.Map)
    got = [(layer.layer_name, layer.kind, layer.show) for layer in layers_of(m)]
    assert got == [
        ("LISA clusters", "features", True),
        ("Gi* hot and cold spots", "features", False),
        ("Choropleth: lq", "features", False),
        ("Density (KDE)", "surface", True),
        ("Clusters", "features", True),
        ("Firms", "points", True),
    ]
    controls = [c for c in m._children.values() if isinstance(c, folium.LayerControl)]
    assert len(controls) == 1
    html = m.get_root().render()
    assert "L.control.scale()" in html  # scale bar
    for layer in layers_of(m):
        assert payload(layer)["legend"]["title"]  # every layer has a legend


def test_gc_map_is_make_map():
    assert gc.map is gc.make_map
    assert callable(gc.save_map)


def test_lisa_geoda_colours_and_codes(units):
    m = gc.map(lisa=units, tiles=None)
    (layer,) = layers_of(m)
    data = payload(layer)
    assert data["palette"] == ["#d7191c", "#2c7bb6", "#abd9e9", "#fdae61", "#eeeeee"]
    features = json.loads(layer.extra)["features"]
    keys = list(plotting.LISA_COLORS)
    assert [keys[f["properties"]["c"]] for f in features] == units["lisa_cluster"].tolist()
    labels = [item["label"] for item in data["legend"]["items"]]
    assert labels[0] == "High-High (HH) (6)" and labels[-1] == "Not significant (6)"
    tip = data["tooltip"]
    assert tip["fields"] == ["fips", "name", "lisa_cluster", "lisa_I", "lisa_p"]
    assert decode(tip["columns"][0], 3) == "00003"


def test_hotspot_colours(units):
    (layer,) = layers_of(gc.map(hotspots=units, tiles=None))
    assert payload(layer)["palette"] == list(plotting.HOTSPOT_COLORS.values())
    codes = [f["properties"]["c"] for f in json.loads(layer.extra)["features"]]
    keys = list(plotting.HOTSPOT_COLORS)
    assert [keys[c] for c in codes] == units["gi_hotspot"].tolist()


def test_lisa_and_hotspot_validation(units):
    with pytest.raises(InputError, match=r"lisa= needs the column 'lisa_cluster'.*gc.local_moran"):
        gc.map(lisa=units.drop(columns="lisa_cluster"), tiles=None)
    bad = units.assign(lisa_cluster=["HH"] * 29 + ["High"])
    with pytest.raises(InputError, match=r"values \['High'\] outside"):
        gc.map(lisa=bad, tiles=None)
    with pytest.raises(InputError, match=r"hotspots= needs the column 'gi_hotspot'"):
        gc.map(hotspots=units.drop(columns="gi_hotspot"), tiles=None)
    with pytest.raises(InputError, match="must be a GeoDataFrame; got DataFrame"):
        gc.map(lisa=pd.DataFrame(units.drop(columns="geometry")), tiles=None)
    with pytest.raises(CRSError, match=r"lisa= has no CRS.*set_crs"):
        gc.map(lisa=units.set_crs(None, allow_override=True), tiles=None)


@pytest.mark.filterwarnings("ignore:Numba not installed")
@pytest.mark.parametrize("scheme, cls", [("quantiles", mapclassify.Quantiles),
                                         ("fisher_jenks", mapclassify.FisherJenks),
                                         ("equal_interval", mapclassify.EqualInterval)])
def test_choropleth_classes_match_mapclassify(units, scheme, cls):
    frame = units.copy()
    frame.loc[frame.index[4], "lq"] = np.nan
    m = gc.map(choropleth={"data": frame, "column": "lq", "scheme": scheme, "k": 4}, tiles=None)
    (layer,) = layers_of(m)
    data = payload(layer)
    y = frame["lq"].to_numpy()
    ok = np.isfinite(y)
    expected = cls(y[ok], k=4)
    codes = np.array([f["properties"]["c"] for f in json.loads(layer.extra)["features"]])
    np.testing.assert_array_equal(codes[ok], expected.yb)
    assert codes[4] == len(expected.bins)  # the missing value has its own class
    assert data["palette"][:4] == plotting.sample_cmap("YlOrRd", 4)
    labels = [item["label"] for item in data["legend"]["items"]]
    assert labels[-1] == "no data (1)"
    assert labels[0].startswith(f"{np.nanmin(y):,.4g} – {expected.bins[0]:,.4g}")
    assert data["legend"]["note"] == f"{type(expected).__name__}, 4 classes"


def test_choropleth_validation(units):
    with pytest.raises(InputError, match=r"scheme='nope' failed"):
        gc.map(choropleth={"data": units, "column": "lq", "scheme": "nope"}, tiles=None)
    with pytest.raises(InputError, match="is not a matplotlib colormap"):
        gc.map(choropleth={"data": units, "column": "lq", "cmap": "nope"}, tiles=None)
    with pytest.raises(InputError, match="column 'name' must be numeric"):
        gc.map(choropleth=(units, "name"), tiles=None)
    with pytest.raises(InputError, match="has no column 'zz'"):
        gc.map(choropleth=(units, "zz"), tiles=None)
    with pytest.raises(InputError, match=r"needs keys 'data' and 'column'.*got \['column', 'data', 'klass'\]"):
        gc.map(choropleth={"data": units, "column": "lq", "klass": 3}, tiles=None)
    with pytest.raises(InputError, match="k=1 must be an integer >= 2"):
        gc.map(choropleth={"data": units, "column": "lq", "k": 1}, tiles=None)


# ----------------------------------------------------------------------------- firms


def test_firms_coordinates_colours_sizes(firms):
    m = gc.map(firms=firms, size="employees", tiles=None)
    (layer,) = layers_of(m)
    data = payload(layer)
    np.testing.assert_allclose(data["lon"], firms.geometry.x, atol=5e-6)
    np.testing.assert_allclose(data["lat"], firms.geometry.y, atol=5e-6)
    assert max(len(repr(v).split(".")[-1]) for v in data["lon"]) <= 5
    # innovator_type is the default colour column, in the innovator palette
    palette = dict(zip([i["label"].split(" (")[0] for i in data["legend"]["items"]],
                       data["palette"], strict=True))
    assert palette == {k: plotting.INNOVATOR_COLORS[k] for k in palette}
    assert [data["palette"][c] for c in data["codes"]] == [
        plotting.INNOVATOR_COLORS[t] for t in firms["innovator_type"]]
    # circle area (above the minimum radius) grows linearly with the value, capped at the
    # 99th percentile; radii are rounded to 0.1 px
    r = np.asarray(data["radius"])
    v = firms["employees"].to_numpy(dtype=float)
    cap = np.quantile(v, 0.99)
    lo, hi = legend_module.MIN_RADIUS, legend_module.MAX_RADIUS
    np.testing.assert_allclose(r, lo + (hi - lo) * np.sqrt(np.minimum(v, cap) / cap), atol=0.051)
    assert r.max() == pytest.approx(legend_module.MAX_RADIUS)
    # default tooltip and popup: the index, the name, the colour and size columns
    assert data["tooltip"]["fields"] == ["firm_id", "name", "innovator_type", "employees"]
    assert data["popup"]["fields"] == ["firm_id", "name", "innovator_type", "employees"]


def test_firms_reprojected_to_lonlat(firms):
    metric = firms.to_crs("EPSG:5070")
    data = payload(layers_of(gc.map(firms=metric, tiles=None))[0])
    np.testing.assert_allclose(data["lon"], firms.geometry.x, atol=1e-5)
    np.testing.assert_allclose(data["lat"], firms.geometry.y, atol=1e-5)


def test_firm_tooltip_popup_and_values(firms):
    m = gc.map(firms=firms, color="industry", tooltip="name", popup=True, tiles=None)
    data = payload(layers_of(m)[0])
    assert data["tooltip"]["fields"] == ["firm_id", "name"]
    names = [decode(data["tooltip"]["columns"][1], i) for i in range(len(firms))]
    assert names == firms["name"].tolist()  # raw text, escaped only by the page's textContent
    assert data["popup"]["fields"] == ["firm_id", "name", "innovator_type", "employees", "industry"]
    no_tip = payload(layers_of(gc.map(firms=firms, tooltip=False, tiles=None))[0])
    assert no_tip["tooltip"] is None


def test_many_categories_are_lumped_and_numeric_colours_are_quintiles(firms):
    frame = firms.assign(cat=[f"c{i % 20}" for i in range(len(firms))])
    data = payload(layers_of(gc.map(firms=frame, color="cat", tiles=None))[0])
    labels = [item["label"] for item in data["legend"]["items"]]
    assert len(labels) == legend_module.MAX_CATEGORIES
    assert labels[-1].startswith("other (lumped)")
    assert data["palette"][-1] == plotting.OTHER_COLOR
    numeric = payload(layers_of(gc.map(firms=firms, color="employees", tiles=None))[0])
    expected = mapclassify.Quantiles(firms["employees"].to_numpy(dtype=float), k=5).yb
    assert numeric["codes"] == expected.tolist()


def test_missing_category_gets_grey(firms):
    frame = firms.copy()
    frame.loc[frame.index[:3], "innovator_type"] = None
    data = payload(layers_of(gc.map(firms=frame, tiles=None))[0])
    assert data["palette"][-1] == plotting.MISSING_COLOR
    assert data["legend"]["items"][-1]["label"] == "missing (3)"
    assert data["codes"][:3] == [len(data["palette"]) - 1] * 3


def test_firm_validation(firms, units):
    with pytest.raises(InputError, match=r"size='employees' has negative values"):
        gc.map(firms=firms.assign(employees=-firms["employees"]), size="employees", tiles=None)
    with pytest.raises(InputError, match=r"size='name' must be a numeric column"):
        gc.map(firms=firms, size="name", tiles=None)
    with pytest.raises(InputError, match=r"firms= must hold points; found \['Polygon'\]"):
        gc.map(firms=units, tiles=None)
    with pytest.raises(InputError, match=r"firms= has no column 'sales' \(named by color=\). "
                       r"Available columns: name, innovator_type, employees, industry. Use one"):
        gc.map(firms=firms, color="sales", tiles=None)
    with pytest.raises(InputError, match=r"tooltip= names column 'nme'"):
        gc.map(firms=firms, tooltip=["nme"], tiles=None)
    with pytest.raises(InputError, match=r"color='industry' styles firms, but no firms="):
        gc.map(color="industry", tiles=None)
    with pytest.raises(CRSError, match="firms= has no CRS"):
        gc.map(firms=firms.set_crs(None, allow_override=True), tiles=None)


def test_empty_geometries_warn_and_are_dropped(firms):
    frame = firms.copy()
    frame.loc[frame.index[:2], "geometry"] = None
    with pytest.warns(GeoclusterWarning, match="2 of 300 rows have no geometry"):
        m = gc.map(firms=frame, tiles=None)
    assert len(payload(layers_of(m)[0])["lat"]) == 298


def test_inputs_not_mutated(firms, units):
    before = [firms.copy(), units.copy()]
    gc.map(firms=firms, size="employees", popup=True, lisa=units, hotspots=units,
           choropleth=(units, "lq"), clusters={"a": units}, tiles=None)
    assert_geodataframe_equal(firms, before[0])
    assert_geodataframe_equal(units, before[1])


# ----------------------------------------------------------------------------- KDE surface


def _png(url):
    from PIL import Image

    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


@pytest.mark.parametrize("origin", ["lower", "upper"])
def test_surface_bump_lands_where_it_is(origin):
    surface = bump_surface(origin)
    (layer,) = layers_of(gc.map(density=surface, tiles=None))
    data = payload(layer)
    image = _png(data["url"])
    (s, w), (n, e) = data["bounds"]
    # where the bump is: cell (row 10 from the south, column 60), centre in EPSG:5070
    xmin, ymin, xmax, ymax = surface.bounds
    x = xmin + 60.5 * (xmax - xmin) / 80
    y = ymin + 10.5 * (ymax - ymin) / 60
    lon, lat = Transformer.from_crs(5070, 4326, always_xy=True).transform(x, y)
    # the image is linear in Web Mercator between its bounds
    merc = Transformer.from_crs(4326, 3857, always_xy=True)
    (x0, x1), (y0, y1) = merc.transform([w, e], [s, n])
    mx, my = merc.transform(lon, lat)
    height, width = image.shape[:2]
    col = (mx - x0) / (x1 - x0) * width
    row = (y1 - my) / (y1 - y0) * height
    alpha = image[..., 3]
    peak = np.unravel_index(np.argmax(alpha), alpha.shape)
    assert abs(peak[0] - row) < 2.5 and abs(peak[1] - col) < 2.5
    assert alpha[0, 0] == 0  # zero density is transparent
    assert data["legend"]["gradient"]["high"] == "5"
    assert data["legend"]["note"] == "firms per km², bandwidth 20 km"


def test_surface_with_the_real_density_surface():
    rng = np.random.default_rng(3)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rng.normal(-83, 0.3, 400),
                                                       rng.normal(40, 0.3, 400)), crs=4326)
    surface = gc.kde(pts, bandwidth="20km")
    # the class, not its module: clusters/ is being split (density -> surface)
    assert type(surface).__name__ == "DensitySurface"
    assert type(surface).__module__.startswith("geocluster.clusters.")
    (layer,) = layers_of(gc.map(density=surface, tiles=None))
    data = payload(layer)
    alpha = _png(data["url"])[..., 3]
    (s, w), (n, e) = data["bounds"]
    assert w < -83 < e and s < 40 < n
    # the densest pixel is near the centre of the point cloud
    peak = np.unravel_index(np.argmax(alpha), alpha.shape)
    assert abs(peak[0] / alpha.shape[0] - 0.5) < 0.15 and abs(peak[1] / alpha.shape[1] - 0.5) < 0.15


def test_surface_validation():
    with pytest.raises(InputError, match="density= must be a DensitySurface"):
        gc.map(density=np.zeros((3, 3)), tiles=None)
    with pytest.raises(InputError, match="must be a 2-D grid"):
        gc.map(density=Surface(np.zeros(5), (0, 0, 1, 1)), tiles=None)
    with pytest.raises(CRSError, match="density= has no crs"):
        gc.map(density=Surface(np.zeros((3, 3)), (0, 0, 1, 1), crs=None), tiles=None)


# ----------------------------------------------------------------------------- map options


def test_cluster_layers_from_dict(units):
    m = gc.map(clusters={"Density clusters": units.iloc[:2], "Cluster regions": units.iloc[2:5]},
               tiles=None)
    got = [(layer.layer_name, payload(layer)["palette"]) for layer in layers_of(m)]
    assert got == [("Density clusters", [plotting.CLUSTER_COLORS[0]]),
                   ("Cluster regions", [plotting.CLUSTER_COLORS[1]])]
    with pytest.raises(InputError, match="clusters= must be a GeoDataFrame"):
        gc.map(clusters=[units], tiles=None)


def test_bounds_fitted_to_all_data(firms, units):
    m = gc.map(firms=firms, lisa=units, tiles=None)
    (fit,) = [c for c in m._children.values() if isinstance(c, folium.FitBounds)]
    w = min(firms.total_bounds[0], units.total_bounds[0])
    s = min(firms.total_bounds[1], units.total_bounds[1])
    e = max(firms.total_bounds[2], units.total_bounds[2])
    n = max(firms.total_bounds[3], units.total_bounds[3])
    np.testing.assert_allclose(fit.bounds, [[s, w], [n, e]])


def test_m_adds_layers_to_an_existing_map(firms, units):
    m = gc.map(firms=firms, tiles=None)
    m2 = gc.map(firms=firms.iloc[:10], lisa=units, m=m)
    assert m2 is m
    assert [layer.layer_name for layer in layers_of(m)] == ["Firms", "LISA clusters", "Firms (2)"]
    assert sum(isinstance(c, folium.LayerControl) for c in m._children.values()) == 1
    assert list(m._children.values())[-1].__class__.__name__ == "Ready"
    with pytest.raises(InputError, match="m= must be a folium.Map"):
        gc.map(firms=firms, m="map")
    # tiles= sets up a new map's base maps; it does not apply to m=
    for tiles in (None, "CartoDB positron", ["OpenStreetMap"]):
        with pytest.raises(InputError, match=r"tiles=.* applies to a new map only.*Leave "
                                             r"tiles= out to add layers to m="):
            gc.map(lisa=units, m=m, tiles=tiles)
    assert [layer.layer_name for layer in layers_of(m)][-1] == "Firms (2)"  # nothing added


@pytest.mark.filterwarnings("ignore:CartoDB tiles now require an API key")
def test_tiles_choice(firms):
    none = gc.map(firms=firms, tiles=None)
    assert not any(isinstance(c, folium.TileLayer) for c in none._children.values())
    several = gc.map(firms=firms, tiles=["CartoDB positron", "OpenStreetMap"])
    tiles = [c for c in several._children.values() if isinstance(c, folium.TileLayer)]
    assert [t.show for t in tiles] == [True, False]
    base = [c.layer_name for c in several._children.values()
            if isinstance(c, folium.map.Layer) and not c.overlay]
    assert base == ["CartoDB positron", "OpenStreetMap", "No base map"]
    with pytest.raises(InputError, match="unknown base map tiles='Nowhere maps'"):
        gc.map(firms=firms, tiles="Nowhere maps")
    with pytest.raises(InputError, match="tiles= must be a base map name"):
        gc.map(firms=firms, tiles=3)


# ----------------------------------------------------------------------------- saving


def test_save_self_contained_has_no_network_loads(firms, units, tmp_path):
    m = gc.map(firms=firms, lisa=units, density=bump_surface(), clusters=units.iloc[:2],
               tiles=None)
    path = gc.save_map(m, tmp_path / "map.html")
    page = path.read_text(encoding="utf-8")
    assert NETWORK_LOAD_RE.search(page) is None
    assert not re.search(r"https?://[^\"'\s]*\.(js|css|png|woff2?)\b", page)
    assert "Leaflet 1.9.4" in page and "L.control.layers" in page
    assert "images/layers.png" not in page  # the stylesheet's images are data URIs
    assert "tile.openstreetmap" not in page and "basemaps.cartocdn" not in page
    # the runtime's files, once each, and no benchmark hooks (benchmarks/map_timing.js)
    assert page.count(assets.runtime_js()) == 1 and page.count(assets.runtime_css()) == 1
    assert "geocluster.timings" not in page and "readyAt" not in page


def test_static_files_are_package_resources():
    """The runtime and Leaflet are read from the package (the wheel ships them)."""
    static = resources.files("geocluster.viz").joinpath("static")
    names = {p.name for p in static.iterdir()}
    assert {"geocluster-runtime.js", "geocluster-runtime.css", "leaflet", "README.md"} <= names
    assert {p.name for p in static.joinpath("leaflet").iterdir()} == {
        "leaflet.js", "leaflet.css", "images", "LICENSE"}
    assert "window.geocluster" in assets.runtime_js()
    assert assets.leaflet_css().count("data:image/png;base64,") == 3


def test_save_not_self_contained_links_cdn(firms, tmp_path):
    path = gc.save_map(gc.map(firms=firms, tiles=None), tmp_path / "cdn.html",
                       self_contained=False)
    page = path.read_text(encoding="utf-8")
    assert re.search(r'<script src="https://[^"]+leaflet[^"]*\.js"', page)


def test_tiles_map_saves_only_tile_urls(firms, tmp_path):
    page = gc.save_map(gc.map(firms=firms), tmp_path / "tiles.html").read_text()
    assert NETWORK_LOAD_RE.search(page) is None
    # the default base map is OpenStreetMap, requested at run time only
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in page
    assert "basemaps.cartocdn.com" not in page


def test_default_map_emits_no_warning_at_all(firms, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = gc.map(firms=firms)
        gc.save_map(m, tmp_path / "default.html")
        gc.save_map(m, tmp_path / "cdn.html", self_contained=False)
    assert [str(w.message) for w in caught] == []
    base = [c.layer_name for c in m._children.values()
            if isinstance(c, folium.map.Layer) and not c.overlay]
    assert base == ["OpenStreetMap", "No base map"]


def test_save_refuses_assets_it_cannot_inline(firms, tmp_path):
    m = gc.map(firms=firms, tiles=None)
    folium.Marker([40, -83], icon=folium.Icon(icon="info-sign")).add_to(m)
    with pytest.raises(InputError, match="cannot inline awesome-markers"):
        gc.save_map(m, tmp_path / "x.html")
    from folium.plugins import MarkerCluster

    m = gc.map(firms=firms, tiles=None)
    MarkerCluster().add_to(m)
    with pytest.raises(InputError, match="cannot inline the external asset.*markercluster"):
        gc.save_map(m, tmp_path / "y.html")
    with pytest.raises(InputError, match="folder .* does not exist"):
        gc.save_map(gc.map(firms=firms, tiles=None), tmp_path / "no" / "z.html")


@pytest.mark.parametrize("path", [5, None, b"map.html", ["map.html"]])
def test_save_path_must_be_a_str_or_path(firms, path):
    with pytest.raises(InputError, match=r"path=.* must be a file path .* not (int|NoneType|"
                                         r"bytes|list)"):
        gc.save_map(gc.map(firms=firms.iloc[:3], tiles=None), path)


def test_save_accepts_str_and_refuses_a_folder(firms, tmp_path):
    m = gc.map(firms=firms.iloc[:3], tiles=None)
    assert gc.save_map(m, str(tmp_path / "s.html")) == tmp_path / "s.html"
    with pytest.raises(InputError, match="it is a folder"):
        gc.save_map(m, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.html"]


def test_failed_save_writes_nothing_partial(firms, tmp_path, monkeypatch):
    m = gc.map(firms=firms.iloc[:3], tiles=None)
    old = tmp_path / "old.html"
    old.write_text("previous map", encoding="utf-8")
    # a page that cannot be encoded fails half-way through the write
    monkeypatch.setattr(map_module, "inline_assets", lambda page: page + "\ud800" + page)
    for target in (old, tmp_path / "new.html"):
        with pytest.raises(UnicodeEncodeError):
            gc.save_map(m, target)
    assert old.read_text(encoding="utf-8") == "previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]  # no temp file left
    monkeypatch.undo()
    assert "leaflet" in gc.save_map(m, old).read_text(encoding="utf-8").lower()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.html"]


# ----------------------------------------------------------------------------- escaping


def test_hostile_strings_never_appear_raw(firms, units, tmp_path):
    hostile_units = units.assign(name=(XSS * 8)[: len(units)])
    m = gc.map(
        firms=firms.rename(columns={"name": XSS[1]}), tooltip=[XSS[1]], popup=True,
        lisa=hostile_units, choropleth={"data": units, "column": "lq", "name": XSS[0]},
        clusters={XSS[2]: units.iloc[:2], XSS[3]: units.iloc[2:4]}, tiles=None,
    )
    page = gc.save_map(m, tmp_path / "xss.html").read_text(encoding="utf-8")
    for payload_text in XSS:
        assert payload_text not in page
    assert "<img" not in page and "<svg onload" not in page
    # layer names reach Leaflet's layer control (which writes them as HTML) escaped
    names = [layer.layer_name for layer in layers_of(m)]
    assert names[1] == "&lt;script&gt;window.__xss=1&lt;/script&gt;"
    assert names[2] == "&lt;/script&gt;&lt;script&gt;window.__xss=3&lt;/script&gt;"


def test_safe_json_round_trips_and_cannot_close_a_script():
    value = {"a": XSS + ["\u2028", "`${x}`", "&amp;"], "b": [1.5, float("nan"), None]}
    text = safe_json(value)
    assert not re.search(r"[<>&'`\u2028\u2029]", text)
    assert json.loads(text) == {"a": value["a"], "b": [1.5, None, None]}


def test_encode_column_types():
    assert encode_column(pd.Series(["a", "b", "a", None])) == {
        "levels": ["a", "b"], "codes": [0, 1, 0, -1]}
    assert encode_column(pd.Series([1.0, 2.0, np.nan])) == {"values": [1, 2, None]}
    assert encode_column(pd.Series([0.1234567891, 12345.678])) == {"values": [0.123457, 12345.7]}
    dates = encode_column(pd.Series(pd.to_datetime(["2020-01-02", "2021-03-04"])))
    assert dates == {"values": ["2020-01-02", "2021-03-04"]}
    assert encode_column(pd.Series([True, False, True, True])) == {
        "levels": ["True", "False"], "codes": [0, 1, 0, 0]}
    assert encode_column(pd.Series(["x", "y"])) == {"values": ["x", "y"]}  # all distinct


@pytest.mark.slow
def test_100k_firms_file_is_small(tmp_path):
    rng = np.random.default_rng(0)
    n = 100_000
    frame = gpd.GeoDataFrame(
        {"name": [f"Firm {i}" for i in range(n)],
         "innovator_type": rng.choice(["serial", "non-serial", "large"], n),
         "employees": rng.integers(1, 10_000, n)},
        geometry=gpd.points_from_xy(rng.uniform(-124, -67, n), rng.uniform(25, 49, n)),
        crs="EPSG:4326",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = gc.map(firms=frame, size="employees", tooltip=["name", "employees"], tiles=None)
    size = gc.save_map(m, tmp_path / "big.html").stat().st_size
    assert size < 30e6
    assert size < 90 * n  # about 60 bytes a firm with a name and a size


def test_list_valued_columns_do_not_break_tooltips(units):
    frame = units.iloc[:3].assign(members=[np.array([1, 2]), [3], None])
    (layer,) = layers_of(gc.map(clusters=frame, tiles=None))
    assert "members" not in payload(layer)["tooltip"]["fields"]  # scalars only
    assert encode_column(pd.Series([np.array([1, 2]), None, [3]]))["values"][1] is None


# ----------------------------------------------------------------------------- template injection

#: Jinja payloads; the last two print "PWNED" (which no payload contains) if they ever run.
JINJA = [
    "{{7*7}}",
    "{% if 1 %}x{% endif %}",
    "{{ lipsum.__globals__.os.popen('echo PWNED').read() }}",
    "{#",
    '{{ "PW" ~ "NED" }}',
    "{% for i in range(3) %}PWNED{% endfor %}}}",
]


def _ran(page: str) -> bool:
    """Whether a payload's output is in the page ("PWNED" not inside a payload's text)."""
    return re.search(r"(?<!echo )PWNED(?!.{0,20}endfor)", page) is not None


def _json_payloads(page: str) -> list:
    """Every <script type="application/json"> element of a saved page, decoded."""
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page, re.S)
    assert blocks
    return [resolved(json.loads(b)) for b in blocks]


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _layer_control_names(page: str) -> list[str]:
    """Layer names as Leaflet's layer control receives them (HTML), decoded to text."""
    import html

    block = re.search(r"_layers = \{(.*?)\};", page, re.S).group(1)
    return [html.unescape(json.loads(k)) for k in re.findall(r'("(?:[^"\\]|\\.)*")\s*:', block)
            if json.loads(k) not in ("base_layers", "overlays")]


def _jinja_map(tmp_path, payload, **save):
    """A map where the payload reaches every place text from the data can go."""
    firms = gpd.GeoDataFrame(
        {"name": [payload, "plain"], payload: [payload, "x"], "sector": [payload, "b"],
         "employees": [3, 7]},
        geometry=gpd.points_from_xy([-83.0, -82.0], [40.0, 40.5]), crs="EPSG:4326",
        index=pd.Index([payload, "f2"], name=payload),
    )
    boxes = [shapely.box(-84, 39, -83, 40), shapely.box(-83, 39, -82, 40)]
    units = gpd.GeoDataFrame(
        {"NAME": [payload, "u2"], "lisa_cluster": ["HH", "ns"], "lisa_I": [1.5, 0.1],
         "lisa_p": [0.01, 0.5], "lisa_region": [payload, None], "lq": [2.0, 0.5],
         "gi_hotspot": ["hot 99%", "ns"]},
        geometry=boxes, crs="EPSG:4326",
    )
    m = gc.map(firms=firms, color="sector", size="employees", popup=True,
               tooltip=["name", payload], lisa=units, hotspots=units,
               choropleth={"data": units, "column": "lq", "name": f"LQ {payload}",
                           "tooltip": ["NAME"]},
               clusters={payload: units.iloc[:1]}, tiles=None)
    return m, gc.save_map(m, tmp_path / "jinja.html", **save).read_text(encoding="utf-8")


@pytest.mark.parametrize("payload", JINJA)
@pytest.mark.parametrize("self_contained", [True, False])
def test_jinja_in_the_data_is_shown_literally_and_never_runs(tmp_path, payload, self_contained):
    m, page = _jinja_map(tmp_path, payload, self_contained=self_contained)
    assert not _ran(page)
    assert "{{" not in page and "{%" not in page and "{#" not in page  # nothing left for a template
    data = [d for d in _json_payloads(page) if d.get("type") != "FeatureCollection"]
    texts = _strings(data)
    firms_data = next(d for d in data if d.get("name") == "Firms")
    # firm fields: the index (with its name), the name column, a column named by the payload
    popup = firms_data["popup"]
    assert popup["fields"][0] == payload and payload in popup["fields"]
    for k, field in enumerate(popup["fields"]):
        if field in ("name", payload):
            assert decode(popup["columns"][k], 0) == payload
    # categories: legend label and title
    labels = [item["label"] for item in firms_data["legend"]["items"]]
    assert f"{payload} (1)" in labels
    # layer names (clusters, choropleth) in the payload, in legend titles and the layer control
    names = [d["name"] for d in data]
    assert names.count(payload) == 1 and names.count(f"LQ {payload}") == 1
    assert sum(d["legend"]["title"] == payload for d in data) == 1  # the cluster layer's legend
    control = _layer_control_names(page)
    assert control.count(payload) == 1 and control.count(f"LQ {payload}") == 1
    # areas: the NAME column and the LISA region name
    lisa = next(d for d in data if d.get("name") == "LISA clusters")
    fields = lisa["tooltip"]["fields"]
    assert decode(lisa["tooltip"]["columns"][fields.index("NAME")], 0) == payload
    assert decode(lisa["tooltip"]["columns"][fields.index("lisa_region")], 0) == payload
    assert texts.count(payload) >= 10
    # no payload's result appears where the text belongs
    assert "49" not in labels and "x (1)" not in labels[:-1]


def test_no_template_ever_compiles_data(tmp_path, monkeypatch):
    """Every Jinja template compiled while a map is made and saved, recorded: none holds data.

    This checks the construction (the data are template variables, never template
    source), not an escape: with branca's default rendering the layer scripts and the
    payload markup would be compiled as templates.
    """
    import jinja2

    sources: list[str] = []
    original = jinja2.Environment.from_string

    def spy(self, source, *args, **kwargs):
        sources.append(str(source))
        return original(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "from_string", spy)
    marker = "Marker-7f3a {{7*7}}"
    _jinja_map(tmp_path, marker)
    _jinja_map(tmp_path, marker, self_contained=False)
    assert sources  # folium's own map template is compiled (it holds no data)
    assert not [s for s in sources if "Marker-7f3a" in s or "7*7" in s]
    assert not [s for s in sources if "Marker-7f3a" in s.replace("\\u007b", "{")]


def test_literal_even_without_the_brace_escapes(tmp_path, monkeypatch):
    """Turn the defence-in-depth escapes off: the text still reaches the page literally."""
    import html as html_module

    from geocluster._base.jsonable import dumps
    from geocluster.viz import layers as _maplayers

    def plain_json(obj):
        text = dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def plain_label(name):
        return html_module.escape(str(name), quote=True)

    monkeypatch.setattr(_maplayers, "safe_json", plain_json)
    monkeypatch.setattr(_maplayers, "layer_label", plain_label)
    monkeypatch.setattr(map_module, "layer_label", plain_label)
    payload = "{{7*7}} {% if 1 %}PW{% endif %}NED"
    m, page = _jinja_map(tmp_path, payload)
    assert page.count(payload) >= 10  # raw braces now, but shown as they are
    control = _layer_control_names(page)
    assert control.count(payload) == 1 and control.count(f"LQ {payload}") == 1
    assert not _ran(page)


def test_layer_label_escapes_html_and_braces():
    assert map_module.layer_label("<b>{{7*7}}</b>") == "&lt;b&gt;&#123;&#123;7*7&#125;&#125;&lt;/b&gt;"


def test_safe_json_escapes_braces_only_inside_strings():
    value = {"{k}": ["{{7*7}}", "{%", "{#", "}}", {"nested": {}}], "n": {"a": [{}]}}
    text = safe_json(value)
    assert json.loads(text) == value
    assert not re.search(r"\{[{%#]", text)
    assert text.count("{") == 5  # the five objects; none from the strings
    assert "\\u007b\\u007b7*7\\u007d\\u007d" in text


# ----------------------------------------------------------------------------- same bytes


@pytest.mark.parametrize("tiles", [None, "OpenStreetMap", ["OpenStreetMap", "CartoDB positron"]])
@pytest.mark.parametrize("self_contained", [True, False])
@pytest.mark.filterwarnings("ignore:CartoDB tiles now require an API key")
def test_same_input_same_bytes(firms, units, tmp_path, tiles, self_contained):
    def build(folder):
        folder.mkdir()
        m = gc.map(firms=firms, size="employees", lisa=units, hotspots=units,
                   choropleth=(units, "lq"), density=bump_surface(),
                   clusters={"A": units.iloc[:2], "B": units.iloc[2:4]}, tiles=tiles)
        return gc.save_map(m, folder / "map.html", self_contained=self_contained).read_bytes()

    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    assert first == second
    assert b"uuid" not in first
    ids = set(re.findall(rb"[a-z_]+_[0-9a-f]{32}\b", first))
    assert len(ids) >= 8  # the map, 6 layers, the control (and tiles): named, not random


def test_same_map_saved_twice_same_bytes_and_no_duplicates(firms, units, tmp_path):
    m = gc.map(firms=firms, lisa=units, tiles="OpenStreetMap")
    a = gc.save_map(m, tmp_path / "a.html").read_bytes()
    b = gc.save_map(m, tmp_path / "b.html").read_bytes()
    assert a == b
    gc.map(hotspots=units, m=m)  # more layers on the saved map: one control, one fit
    page = gc.save_map(m, tmp_path / "c.html").read_text(encoding="utf-8")
    assert page.count("L.control.layers(") == 1
    assert len(re.findall(r"map_[0-9a-f]{32}\.fitBounds\(", page)) == 1
    assert page.count("geocluster.ready(") == 1
    assert page.count("= geocluster.points(") == 1


def test_seed_names_elements(firms, tmp_path):
    def page(seed, name):
        return gc.save_map(gc.map(firms=firms, tiles=None, seed=seed), tmp_path / name).read_bytes()

    assert page(3, "a.html") == page(3, "b.html")
    assert page(3, "a.html") != page(4, "c.html")
    assert page(None, "d.html") != page(3, "e.html")
    with pytest.raises(InputError, match=r"seed=-1 must be None or a non-negative int"):
        gc.map(firms=firms, tiles=None, seed=-1)


# ----------------------------------------------------------------------------- long text


def test_long_names_are_cut_in_the_payload(firms, tmp_path):
    long_name = "A" * 200_000
    long_field = "f" * 5_000
    frame = firms.iloc[:5].assign(name=[long_name, "short", "b", "c", "d"],
                                  **{long_field: ["v" * 1_000] * 5})
    m = gc.map(firms=frame, popup=["name", long_field], tiles=None)
    data = payload(layers_of(m)[0])
    popup = data["popup"]
    assert decode(popup["columns"][1], 0) == "A" * 500 + "… (200,000 characters)"
    assert decode(popup["columns"][1], 1) == "short"
    assert popup["fields"][2] == "f" * 200 + "… (5,000 characters)"
    assert decode(popup["columns"][2], 0) == "v" * 500 + "… (1,000 characters)"
    size = gc.save_map(m, tmp_path / "long.html", self_contained=False).stat().st_size
    assert size < 40_000  # not 200 kB


def test_long_category_and_layer_names_are_cut(units):
    frame = units.iloc[:2]
    m = gc.map(clusters={"L" * 1_000: frame}, tiles=None)
    (layer,) = layers_of(m)
    data = payload(layer)
    assert data["name"] == "L" * 200 + "… (1,000 characters)"
    assert data["legend"]["title"] == data["name"]
    assert layer.layer_name == data["name"]


# ----------------------------------------------------------------------------- default fields


@pytest.mark.parametrize("column", ["name", "NAME", "Name", "company", "Company_Name",
                                    "firm_name", "FIRM"])
def test_default_fields_use_a_name_like_column(firms, column):
    frame = firms.rename(columns={"name": column})
    data = payload(layers_of(gc.map(firms=frame, size="employees", tiles=None))[0])
    expected = ["firm_id", column, "innovator_type", "employees"]
    assert data["tooltip"]["fields"] == expected
    assert data["popup"]["fields"] == expected
    assert decode(data["popup"]["columns"][1], 5) == firms["name"].iloc[5]


def test_default_fields_prefer_name_and_work_without_one(firms):
    both = firms.assign(company="C")
    data = payload(layers_of(gc.map(firms=both, tiles=None))[0])
    assert data["popup"]["fields"] == ["firm_id", "name", "innovator_type"]
    bare = firms.drop(columns=["name", "innovator_type"]).reset_index(drop=True)
    data = payload(layers_of(gc.map(firms=bare, tiles=None))[0])
    assert data["tooltip"]["fields"] == ["id"]
    assert data["popup"] is None  # a click shows the tooltip's fields


def test_area_layers_use_a_name_like_column(units):
    data = payload(layers_of(gc.map(lisa=units.rename(columns={"name": "NAME"}), tiles=None))[0])
    assert data["tooltip"]["fields"][:2] == ["fips", "NAME"]


def test_missing_popup_column_names_it_and_the_columns(firms):
    with pytest.raises(InputError, match=r"popup= names column 'label', which firms= does not "
                       r"have. Available columns: name, innovator_type, employees, industry. "
                       r"Use one of them, or leave popup= out"):
        gc.map(firms=firms, popup=["name", "label"], tiles=None)
    with pytest.raises(InputError, match=r"popup= must be a column name, a list of column names"):
        gc.map(firms=firms, popup=3, tiles=None)


def test_one_firm_gets_a_view_with_an_extent(firms):
    m = gc.map(firms=firms.iloc[[0, 0]], tiles=None)  # one place: Leaflet would zoom to NaN
    (fit,) = [c for c in m._children.values() if isinstance(c, folium.FitBounds)]
    (s, w), (n, e) = fit.bounds
    assert n - s == pytest.approx(0.01) and e - w == pytest.approx(0.01)
    x, y = firms.geometry.iloc[0].x, firms.geometry.iloc[0].y
    assert (s + n) / 2 == pytest.approx(y, abs=1e-5) and (w + e) / 2 == pytest.approx(x, abs=1e-5)


def test_a_column_in_tooltip_and_popup_is_stored_once(firms):
    data = payload(layers_of(gc.map(firms=firms, size="employees", tiles=None))[0])
    # the default tooltip and popup show the same four fields: four columns in the file
    assert len(data["columns"]) == 4
    assert data["tooltip"]["cols"] == data["popup"]["cols"] == [0, 1, 2, 3]
    data = payload(layers_of(gc.map(firms=firms, tooltip="name", popup=["industry", "name"],
                                    tiles=None))[0])
    assert len(data["columns"]) == 3  # index, name, industry
    assert data["popup"]["fields"] == ["firm_id", "industry", "name"]
    assert [decode(data["popup"]["columns"][2], i) for i in range(3)] == firms["name"].tolist()[:3]


@pytest.mark.parametrize("tiles", ["none", "None", ""])
def test_tiles_none_as_a_config_file_writes_it(firms, tiles):
    m = gc.map(firms=firms, tiles=tiles)
    assert not any(isinstance(c, folium.TileLayer) for c in m._children.values())
    assert "No base map" not in [getattr(c, "layer_name", None) for c in m._children.values()]


def test_long_category_values_are_cut_in_the_legend(firms):
    frame = firms.iloc[:3].assign(sector=["s" * 1_000, "b", "b"])
    data = payload(layers_of(gc.map(firms=frame, color="sector", tiles=None))[0])
    labels = [item["label"] for item in data["legend"]["items"]]
    assert labels == ["b (2)", "s" * 200 + "… (1,000 characters) (1)"]
