"""Saved maps opened in a real browser: Debian's Chromium driven by Playwright.

Every page is loaded from ``file://`` with all other requests blocked (and recorded).
The browser is ``/usr/bin/chromium`` (``.ci/run`` installs it with apt); Playwright never
downloads one. Outside CI the tests skip when that browser is missing; in CI they fail.
Screenshots go to ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster._base import plotting

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
#: Timing hooks (``geocluster.timings``) injected from outside: the shipped runtime has none.
TIMING_JS = Path(__file__).resolve().parents[1] / "benchmarks" / "map_timing.js"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
XSS = [
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "</script><script>window.__xss=3</script>",
    "\"'><svg onload=window.__xss=4>",
]

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    in_ci = bool(os.environ.get("CI"))
    if not os.path.exists(CHROMIUM):
        if in_ci:
            pytest.fail(f"{CHROMIUM} is missing in CI; .ci/run installs Debian's chromium.")
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}); apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci:
            raise
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page opened offline, with its console errors and attempted requests."""

    def __init__(self, browser, path: Path, *, timed: bool = False):
        self.context = browser.new_context(viewport={"width": 1100, "height": 750})
        if timed:
            self.context.add_init_script(path=TIMING_JS)
        self.page = self.context.new_page()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("html[data-geocluster-ready]", state="attached",
                                    timeout=60_000)

    def _route(self, route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def js(self, expression: str):
        return self.page.evaluate(expression)

    def legends(self) -> set[str]:
        """Legends shown (each is hidden, not removed, while its layer is off)."""
        return set(self.js("Array.from(document.querySelectorAll('.gc-legend'))"
                           ".filter(e => e.offsetParent !== null)"
                           ".map(e => e.getAttribute('data-gc-legend'))"))

    def toggle(self, label: str) -> None:
        """Click the layer control's checkbox of the layer shown as ``label``."""
        self.page.locator(".leaflet-control-layers-overlays label", has_text=label) \
            .locator("input").click()

    def point_of(self, lat: float, lon: float) -> tuple[float, float]:
        p = self.js(f"(() => {{ const m = geocluster.maps[0];"
                    f" const q = m.latLngToContainerPoint([{lat}, {lon}]);"
                    f" const r = m.getContainer().getBoundingClientRect();"
                    f" return [q.x + r.left, q.y + r.top]; }})()")
        return p[0], p[1]

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))

    def close(self):
        self.context.close()


def assert_clean(page: Page) -> None:
    """Nothing requested from the network, no console error, no injected script ran."""
    assert page.blocked == []
    assert page.errors == []
    assert page.js("window.__xss === undefined")
    assert page.js("document.querySelectorAll('script:not([src]), script[src]').length") > 0
    srcs = page.js("Array.from(document.images).map(i => i.src)")
    assert all(src.startswith("data:image/png") for src in srcs), srcs


# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def units():
    boxes = [shapely.box(-84 + i * 0.6, 39 + j * 0.6, -83.4 + i * 0.6, 39.6 + j * 0.6)
             for i in range(6) for j in range(5)]
    n = len(boxes)
    hot = list(plotting.HOTSPOT_COLORS)
    return gpd.GeoDataFrame(
        {
            "name": (XSS * 8)[:n],
            "lisa_cluster": (["HH", "LL", "LH", "HL", "ns"] * 6)[:n],
            "lisa_I": np.linspace(-1, 2, n),
            "lisa_p": np.linspace(0.001, 0.5, n),
            "gi_hotspot": [hot[k % len(hot)] for k in range(n)],
            "gi_z": np.linspace(-3, 3, n),
            "lq": np.linspace(0.1, 3.0, n),
        },
        geometry=boxes,
        crs="EPSG:4326",
        index=pd.Index([f"{k:05d}" for k in range(n)], name="fips"),
    )


@pytest.fixture(scope="module")
def firms():
    rng = np.random.default_rng(11)
    n = 400
    frame = gpd.GeoDataFrame(
        {
            "name": [f"Firm {i}" for i in range(n)],
            "innovator_type": rng.choice(["serial", "non-serial", "large"], n),
            "employees": rng.integers(1, 2000, n),
        },
        geometry=gpd.points_from_xy(rng.uniform(-84, -80.4, n), rng.uniform(39, 42, n)),
        crs="EPSG:4326",
    )
    frame.loc[frame.index[: len(XSS)], "name"] = XSS
    return frame


class Surface:
    def __init__(self):
        yy, xx = np.mgrid[-1:1:60j, -1:1:80j]
        self.values = 4.0 * np.exp(-6 * (xx**2 + yy**2))
        self.bounds = (1_000_000.0, 1_900_000.0, 1_400_000.0, 2_200_000.0)
        self.crs = "EPSG:5070"


@pytest.fixture(scope="module")
def full_map(tmp_path_factory, firms, units):
    m = gc.map(
        firms=firms, size="employees", tooltip=["name", "employees"], popup=True,
        lisa=units, hotspots=units, choropleth={"data": units, "column": "lq", "name": XSS[1]},
        density=Surface(), clusters={XSS[0]: units.iloc[:3]}, tiles=None,
    )
    return gc.save_map(m, tmp_path_factory.mktemp("maps") / "full.html")


# ----------------------------------------------------------------------------- tests


def test_full_map_opens_offline_with_layers_and_legends(browser, full_map):
    page = Page(browser, full_map)
    try:
        assert page.js("document.querySelector('.leaflet-container') !== null")
        assert page.js("geocluster.maps.length") == 1
        assert page.js("typeof geocluster.timings") == "undefined"  # no hooks ship
        layers = page.js("geocluster.layers.map(l => [l.name, l.kind, l.count])")
        assert layers == [
            ["LISA clusters", "features", 30],
            ["Gi* hot and cold spots", "features", 30],
            [XSS[1], "features", 30],
            ["Density (KDE)", "surface", 1],
            [XSS[0], "features", 3],
            ["Firms", "points", 400],
        ]
        # the layer control shows hostile layer names as text
        control = page.page.inner_text(".leaflet-control-layers-overlays")
        assert XSS[0] in control and XSS[1] in control
        assert page.legends() == {"lisa", "density", "clusters-0", "firms"}
        lisa_legend = page.page.inner_text("[data-gc-legend=lisa]")
        assert "High-High (HH) (6)" in lisa_legend and "Not significant (6)" in lisa_legend
        colours = page.js("Array.from(document.querySelectorAll('[data-gc-legend=lisa] .gc-swatch'))"
                          ".map(s => getComputedStyle(s).backgroundColor)")
        assert colours == ["rgb(215, 25, 28)", "rgb(44, 123, 182)", "rgb(171, 217, 233)",
                           "rgb(253, 174, 97)", "rgb(238, 238, 238)"]
        assert page.js("document.querySelector('.leaflet-control-scale') !== null")
        assert page.js("document.querySelectorAll('.leaflet-tile').length") == 0
        # firms are drawn: the canvas has opaque pixels
        assert page.js("""(() => { const c = document.querySelector('canvas.gc-points-canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let k = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) k++; return k; })()""") > 1000
        page.screenshot("map_full.png")
        assert_clean(page)
    finally:
        page.close()


def test_legend_hides_with_its_layer(browser, full_map):
    page = Page(browser, full_map)
    try:
        page.toggle("Firms")
        assert "firms" not in page.legends()
        page.toggle("Firms")
        assert "firms" in page.legends()
        page.toggle("LISA clusters")
        page.toggle("Gi* hot and cold spots")
        assert "lisa" not in page.legends() and "hotspots" in page.legends()
        assert "Getis-Ord Gi*" in page.page.inner_text("[data-gc-legend=hotspots]")
        page.toggle(XSS[1])
        assert "choropleth" in page.legends()
        page.screenshot("map_toggled.png")
        assert_clean(page)
    finally:
        page.close()


def test_firm_tooltips_and_popups_show_hostile_names_as_text(browser, tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": XSS, "employees": [5, 50, 500, 5000]},
        geometry=gpd.points_from_xy([-84.0, -83.0, -82.0, -81.0], [40.0, 40.5, 40.0, 40.5]),
        crs="EPSG:4326",
    )
    path = gc.save_map(gc.map(firms=frame, tooltip="name", popup=["name", "employees"],
                              tiles=None), tmp_path / "xss.html")
    page = Page(browser, path)
    try:
        for zoom_in in (0, 2):
            if zoom_in:
                page.js("geocluster.maps[0].setZoom(geocluster.maps[0].getZoom() + 2,"
                        " {animate: false})")
                page.page.wait_for_timeout(300)
            for i, name in enumerate(XSS):
                lat, lon = frame.geometry.y.iloc[i], frame.geometry.x.iloc[i]
                x, y = page.point_of(lat, lon)
                if not (0 < x < 1100 and 0 < y < 750):
                    continue  # outside the zoomed view
                page.page.mouse.move(x + 1, y + 1)
                tooltip = page.page.locator(".leaflet-tooltip")
                tooltip.wait_for(state="visible", timeout=5_000)
                assert tooltip.inner_text().splitlines()[-1].split("\t")[-1] == name
                page.page.mouse.click(x + 1, y + 1)
                popup = page.page.locator(".leaflet-popup-content")
                popup.wait_for(state="visible", timeout=5_000)
                assert name in popup.inner_text()
                assert page.js("document.querySelectorAll('.leaflet-pane img, .leaflet-pane svg,"
                               " .leaflet-pane script').length") == 0
                if zoom_in == 0 and i == 1:
                    page.page.wait_for_timeout(400)  # the popup's fade-in
                    page.screenshot("map_xss_popup.png")  # the payload shown as text
                page.js("geocluster.maps[0].closePopup()")
                page.page.wait_for_function(
                    "document.querySelectorAll('.leaflet-popup').length === 0")
        # away from every firm there is no tooltip
        page.page.mouse.move(5, 700)
        assert page.js("document.querySelectorAll('.leaflet-tooltip').length") == 0
        assert_clean(page)
    finally:
        page.close()


def test_area_tooltip_under_the_mouse(browser, units, tmp_path):
    path = gc.save_map(gc.map(lisa=units, tiles=None), tmp_path / "lisa.html")
    page = Page(browser, path)
    try:
        k = 7
        c = units.geometry.iloc[k].centroid
        x, y = page.point_of(c.y, c.x)
        page.page.mouse.move(x, y)
        tooltip = page.page.locator(".leaflet-tooltip")
        tooltip.wait_for(state="visible", timeout=5_000)
        text = tooltip.inner_text()
        assert units.index[k] in text and units["lisa_cluster"].iloc[k] in text
        assert units["name"].iloc[k] in text  # a hostile name, as text
        page.page.mouse.click(x, y)  # a click (or tap) shows the same fields in a popup
        popup = page.page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible", timeout=5_000)
        assert units.index[k] in popup.inner_text()
        assert units["name"].iloc[k] in popup.inner_text()
        assert_clean(page)
    finally:
        page.close()


def test_base_map_only_requests_tiles(browser, firms, tmp_path):
    path = gc.save_map(gc.map(firms=firms, tiles="OpenStreetMap"), tmp_path / "tiles.html")
    page = Page(browser, path)
    try:
        assert page.js("geocluster.layers.length") == 1
        assert page.blocked, "the base map should have asked for tiles"
        assert all("tile.openstreetmap.org" in url for url in page.blocked), page.blocked
        base = page.page.inner_text(".leaflet-control-layers-base")
        assert "OpenStreetMap" in base and "No base map" in base
        assert page.js("window.__xss === undefined")
    finally:
        page.close()


# ----------------------------------------------------------------------------- template injection

JINJA = [
    "{{7*7}}",
    "{% if 1 %}x{% endif %}",
    "{{ lipsum.__globals__.os.popen('echo PWNED').read() }}",
    "{#",
    '{{ "PW" ~ "NED" }}',
]


def _open_popup_at(page: Page, lat: float, lon: float):
    x, y = page.point_of(lat, lon)
    page.page.mouse.click(x + 1, y + 1)
    popup = page.page.locator(".leaflet-popup-content")
    popup.wait_for(state="visible", timeout=5_000)
    return popup


def _close_popup(page: Page) -> None:
    page.js("geocluster.maps[0].closePopup()")
    page.page.wait_for_function("document.querySelectorAll('.leaflet-popup').length === 0")


def test_jinja_payloads_show_literally_in_popups_legends_and_layer_control(browser, tmp_path):
    n = len(JINJA)
    firms = gpd.GeoDataFrame(
        {"name": JINJA, "sector": JINJA, "employees": list(range(1, n + 1))},
        geometry=gpd.points_from_xy([-84.0] * n, [38.0 + k for k in range(n)]),
        crs="EPSG:4326",
    )
    units = gpd.GeoDataFrame(
        {"NAME": JINJA, "lq": np.arange(1.0, n + 1), "lisa_region": [f"HH {t}" for t in JINJA]},
        geometry=[shapely.box(-83.0, 37.8 + k, -82.0, 38.2 + k) for k in range(n)],
        crs="EPSG:4326",
    )
    clusters = {text: units.iloc[[k]] for k, text in enumerate(JINJA)}
    m = gc.map(firms=firms, color="sector", popup=["name", "sector"], clusters=clusters,
               choropleth={"data": units, "column": "lq", "name": JINJA[0], "k": 2},
               tiles=None)
    path = gc.save_map(m, tmp_path / "jinja.html")
    page = Page(browser, path)
    try:
        # the layer control (Leaflet writes the names as HTML) shows each name as text
        labels = page.js("Array.from(document.querySelectorAll("
                         "'.leaflet-control-layers-overlays label')).map(s => s.textContent.trim())")
        # the choropleth comes first (areas below outlines); its name is taken by a cluster
        # layer, so the cluster layer of the same name is told apart by " (2)"
        assert labels == [JINJA[0], f"{JINJA[0]} (2)", *JINJA[1:], "Firms"]
        # legends: the cluster layers' titles and the firm categories
        titles = page.js("Array.from(document.querySelectorAll('.gc-legend-title'))"
                         ".map(e => e.textContent)")
        assert set(JINJA) <= set(titles)
        assert "choropleth" in page.legends()  # the first area layer is on at the start
        assert page.page.inner_text("[data-gc-legend=choropleth] .gc-legend-title") == "lq"
        firm_labels = page.js("Array.from(document.querySelectorAll("
                              "'[data-gc-legend=firms] .gc-legend-label')).map(e => e.textContent)")
        assert sorted(firm_labels) == sorted(f"{text} (1)" for text in JINJA)
        # popups: the name and category values
        for k, text in enumerate(JINJA):
            popup = _open_popup_at(page, 38.0 + k, -84.0)
            values = popup.locator(".gc-val").all_text_contents()
            assert values == [str(k), text, text]
            _close_popup(page)
        # area tooltips: the NAME column
        x, y = page.point_of(40.0, -82.5)
        page.page.mouse.move(x, y)
        tooltip = page.page.locator(".leaflet-tooltip")
        tooltip.wait_for(state="visible", timeout=5_000)
        shown = dict(zip(tooltip.locator(".gc-key").all_text_contents(),
                         tooltip.locator(".gc-val").all_text_contents(), strict=True))
        assert shown["NAME"] == JINJA[2]
        assert shown["lisa_region"] == f"HH {JINJA[2]}"  # a region name
        body = page.page.inner_text("body")
        assert "PWNED" not in body.replace("echo PWNED", "") and "49" not in body
        page.screenshot("map_jinja.png")
        assert_clean(page)
    finally:
        page.close()


# ----------------------------------------------------------------------------- popups


def test_long_field_name_leaves_the_value_readable(browser, tmp_path):
    long_field = "number_of_employees_reported_in_the_2019_business_register_survey_" * 4
    value = "Research and development in the physical, engineering and life sciences " * 5
    frame = gpd.GeoDataFrame(
        {"name": ["Acme"], long_field: [value]},
        geometry=gpd.points_from_xy([-83.0], [40.0]), crs="EPSG:4326",
    )
    path = gc.save_map(gc.map(firms=frame, popup=["name", long_field], tiles=None),
                       tmp_path / "wide.html")
    page = Page(browser, path)
    try:
        popup = _open_popup_at(page, 40.0, -83.0)
        widths = page.js("Array.from(document.querySelectorAll('.leaflet-popup-content .gc-val'))"
                         ".map(e => e.getBoundingClientRect().width)")
        box = page.js("document.querySelector('.leaflet-popup-content .gc-info')"
                      ".getBoundingClientRect().width")
        assert box >= 280  # the popup takes its full width for this text
        assert min(widths) >= 150, widths  # was a 12-pixel column
        assert widths[-1] >= 0.9 * box  # the long field name sits above its value
        # short field names are not broken up
        heights = page.js("Array.from(document.querySelectorAll('.leaflet-popup-content .gc-key'))"
                          ".map(e => e.getBoundingClientRect().height)")
        assert heights[0] == heights[1] and heights[0] < 20  # one line each: 'id', 'name'
        assert heights[2] > 3 * heights[0]  # the long name wraps over several lines
        assert popup.locator(".gc-val").all_text_contents()[-1] == value
        page.page.wait_for_timeout(400)  # the fade-in
        page.screenshot("map_wide_popup.png")
        assert_clean(page)
    finally:
        page.close()


def test_a_200k_character_name_opens_quickly_and_is_cut(browser, tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["N" * 200_000, "short"]},
        geometry=gpd.points_from_xy([-83.0, -82.0], [40.0, 40.0]), crs="EPSG:4326",
    )
    path = gc.save_map(gc.map(firms=frame, tiles=None), tmp_path / "long.html")
    assert path.stat().st_size < 250_000  # the leaflet runtime plus a cut name
    page = Page(browser, path, timed=True)
    try:
        x, y = page.point_of(40.0, -83.0)
        page.page.mouse.move(x + 1, y + 1)
        page.page.locator(".leaflet-tooltip").wait_for(state="visible", timeout=5_000)
        t0 = time.perf_counter()
        page.page.mouse.click(x + 1, y + 1)
        popup = page.page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible", timeout=10_000)
        elapsed = time.perf_counter() - t0
        assert elapsed < 2.0, elapsed  # was over 90 s
        assert page.js("geocluster.timings.popup") < 500  # from benchmarks/map_timing.js
        timings = page.js("geocluster.timings")
        assert {"runtime", "firstData", "parse", "pointsInit", "pointsDraw", "scriptEnd",
                "ready"} <= set(timings), timings
        assert timings["runtime"] <= timings["firstData"] <= timings["scriptEnd"] \
            <= timings["ready"] == page.js("geocluster.readyAt")
        name = popup.locator(".gc-val").all_text_contents()[1]
        assert name == "N" * 500 + "… (200,000 characters)"
        width = page.js("document.querySelector('.leaflet-popup-content').getBoundingClientRect().width")
        assert width <= 400
        assert_clean(page)
    finally:
        page.close()


def test_shared_location_lists_every_firm(browser, tmp_path):
    names = ["Alpha Ltd", "Beta GmbH", "Gamma SA"]
    crowd = [f"Crowd {k}" for k in range(60)]
    frame = gpd.GeoDataFrame(
        {"name": [*names, "Alone", *crowd], "employees": [10, 20, 30, 5, *range(60)]},
        geometry=gpd.points_from_xy([-83.0] * 3 + [-82.0] + [-81.0] * 60,
                                    [40.0] * 3 + [40.0] + [40.0] * 60),
        crs="EPSG:4326",
    )
    path = gc.save_map(gc.map(firms=frame, popup=["name", "employees"], tiles=None),
                       tmp_path / "shared.html")
    page = Page(browser, path)
    try:
        x, y = page.point_of(40.0, -83.0)
        page.page.mouse.move(x + 1, y + 1)
        tooltip = page.page.locator(".leaflet-tooltip")
        tooltip.wait_for(state="visible", timeout=5_000)
        assert "and 2 more firms at this location" in tooltip.inner_text()
        popup = _open_popup_at(page, 40.0, -83.0)
        assert popup.locator(".gc-many-head").inner_text() == "3 firms at this location"
        blocks = popup.locator(".gc-info")
        assert blocks.count() == 3
        shown = sorted(blocks.nth(k).locator(".gc-val").all_text_contents()[1] for k in range(3))
        assert shown == sorted(names)
        employees = sorted(int(blocks.nth(k).locator(".gc-val").all_text_contents()[2])
                           for k in range(3))
        assert employees == [10, 20, 30]
        page.page.wait_for_timeout(400)
        page.screenshot("map_shared_location.png")
        _close_popup(page)
        # one firm alone: its own fields, no list
        popup = _open_popup_at(page, 40.0, -82.0)
        assert popup.locator(".gc-many-head").count() == 0
        assert popup.locator(".gc-val").all_text_contents()[1] == "Alone"
        _close_popup(page)
        # 60 firms: the first 50, then a count
        popup = _open_popup_at(page, 40.0, -81.0)
        assert popup.locator(".gc-many-head").inner_text() == "60 firms at this location"
        assert popup.locator(".gc-info").count() == 50
        assert popup.locator(".gc-more").inner_text() == "and 10 more"
        listed = {popup.locator(".gc-info").nth(k).locator(".gc-val").all_text_contents()[1]
                  for k in range(50)}
        assert listed <= set(crowd) and len(listed) == 50
        assert_clean(page)
    finally:
        page.close()


def test_short_field_names_stay_on_one_line(browser, tmp_path):
    frame = gpd.GeoDataFrame(
        {"name": ["Acme"], "employees": [12], "innovator_type": ["serial"]},
        geometry=gpd.points_from_xy([-83.0], [40.0]), crs="EPSG:4326",
    )
    path = gc.save_map(gc.map(firms=frame, size="employees", tiles=None), tmp_path / "short.html")
    page = Page(browser, path)
    try:
        popup = _open_popup_at(page, 40.0, -83.0)
        keys = popup.locator(".gc-key").all_text_contents()
        assert keys == ["id", "name", "innovator_type", "employees"]
        heights = page.js("Array.from(document.querySelectorAll('.leaflet-popup-content .gc-key,"
                          " .leaflet-popup-content .gc-val')).map(e => e.getBoundingClientRect().height)")
        assert max(heights) == min(heights)  # every name and value on one line
        page.page.wait_for_timeout(400)
        page.screenshot("map_short_popup.png")
        assert_clean(page)
    finally:
        page.close()
