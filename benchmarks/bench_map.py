"""Benchmark: an interactive map of 100,000 firms, ours against folium's usual ways.

For each method it prints the time to build the map in Python, the time to write the
HTML, the file size, and, in headless Chromium (Debian's /usr/bin/chromium, all network
blocked, page from file://), the time from navigation start until the map is drawn and
responsive, plus (ours) the time to redraw after a zoom and to show a tooltip on hover.

Methods:
  geocluster    gc.map(firms=..., size=, tooltip=) + gc.save_map (self-contained)
  folium        one folium.CircleMarker per firm, no tooltip (prefer_canvas=True): the
                measurement quoted in the issue (50 MB, 31 s to save)
  explore       GeoDataFrame.explore(marker_type="circle_marker", prefer_canvas=True)

Both peers are made offline-openable the same way as ours (Leaflet inlined, CDN assets
dropped), so all three load the same Leaflet from the same file system.

With ``--popups`` it measures instead, on our map of ``--n`` firms with the default
popups, the time from a click to a visible popup on a place shared by 5,000 firms (the
popup lists 50 of them) and on a firm whose name has 200,000 characters (once a browser
tab froze for over 90 s on it), plus the file size and the Python save time.

The in-page timings come from ``benchmarks/map_timing.js``, injected before the page's
scripts (the runtime that ships has no timing code).

Usage: python benchmarks/bench_map.py [--n 100000] [--repeat 2] [--peers folium,explore]
       python benchmarks/bench_map.py --popups [--n 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

import geocluster as gc
from geocluster.viz.assets import inline_assets

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync"]
TIMEOUT_S = 300
#: Timing hooks (``geocluster.timings``, ``geocluster.readyAt``) injected into our pages:
#: the shipped runtime has none.
TIMING_JS = Path(__file__).resolve().with_name("map_timing.js")


def make_firms(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """Firms at real ZIP centroids (contiguous US), jittered by about 1 km."""
    rng = np.random.default_rng(seed)
    zcta = gc.datasets.load_zcta()
    zcta = zcta[(zcta.geometry.x > -125) & (zcta.geometry.x < -66)
                & (zcta.geometry.y > 24) & (zcta.geometry.y < 50)]
    pick = rng.integers(0, len(zcta), n)
    lon = zcta.geometry.x.to_numpy()[pick] + rng.normal(0, 0.01, n)
    lat = zcta.geometry.y.to_numpy()[pick] + rng.normal(0, 0.01, n)
    return gpd.GeoDataFrame(
        {
            "name": [f"Firm {i:06d}" for i in range(n)],
            "innovator_type": rng.choice(["serial", "non-serial", "large"], n, p=[.2, .6, .2]),
            "employees": np.round(rng.lognormal(3.0, 1.3, n)).astype(int) + 1,
            "industry": rng.choice(["325", "334", "5112", "5415", "5417"], n),
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )


# ----------------------------------------------------------------------------- builders


def build_ours(firms, path):
    t0 = time.perf_counter()
    m = gc.map(firms=firms, size="employees", tooltip=["name", "employees"], tiles=None)
    t1 = time.perf_counter()
    gc.save_map(m, path)
    return t1 - t0, time.perf_counter() - t1


def build_folium(firms, path):
    import folium

    colours = {"serial": "#d55e00", "non-serial": "#0072b2", "large": "#999999"}
    t0 = time.perf_counter()
    m = folium.Map(tiles=None, prefer_canvas=True)
    for lat, lon, kind in zip(firms.geometry.y, firms.geometry.x, firms["innovator_type"],
                              strict=True):
        folium.CircleMarker([lat, lon], radius=3, color=colours[kind], fill=True,
                            weight=0, fill_opacity=0.8).add_to(m)
    m.fit_bounds([[24, -125], [50, -66]])
    t1 = time.perf_counter()
    Path(path).write_text(inline_assets(m.get_root().render()), encoding="utf-8")
    return t1 - t0, time.perf_counter() - t1


def build_explore(firms, path):
    t0 = time.perf_counter()
    m = firms.explore(column="innovator_type", tooltip=["name", "employees"],
                      marker_type="circle_marker", marker_kwds={"radius": 3},
                      tiles=None, prefer_canvas=True, legend=False)
    t1 = time.perf_counter()
    Path(path).write_text(inline_assets(m.get_root().render()), encoding="utf-8")
    return t1 - t0, time.perf_counter() - t1


# ----------------------------------------------------------------------------- browser


READY_OURS = "document.documentElement.hasAttribute('data-geocluster-ready')"
# folium's maps are complete once the load event has fired and two frames were drawn.
READY_PEER = """() => new Promise(resolve => {
  const done = () => requestAnimationFrame(() => requestAnimationFrame(
      () => resolve(performance.now())));
  if (document.readyState === 'complete') { done(); } else { addEventListener('load', done); }
})"""


def open_in_browser(browser, path: Path, ours: bool) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    if ours:
        context.add_init_script(path=TIMING_JS)
    page = context.new_page()
    blocked, errors = [], []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else (blocked.append(r.request.url), r.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    out: dict = {}
    try:
        page.goto(path.resolve().as_uri(), timeout=TIMEOUT_S * 1000, wait_until="commit")
        if ours:
            page.wait_for_function(READY_OURS, timeout=TIMEOUT_S * 1000, polling=50)
            out["ready_ms"] = page.evaluate("geocluster.readyAt")
            out["timings"] = page.evaluate("geocluster.timings")
            out["zoom_ms"] = page.evaluate("""() => new Promise(resolve => {
                const m = geocluster.maps[0], t0 = performance.now();
                m.setZoom(m.getZoom() + 1, {animate: false});
                requestAnimationFrame(() => resolve(performance.now() - t0)); })""")
            # hover the firm nearest the view's centre and time the tooltip
            xy = page.evaluate("""() => { const m = geocluster.maps[0], l = geocluster.layers[0].layer;
                let best = null, bd = 1e18; const c = m.getSize().divideBy(2);
                for (let i = 0; i < l._n; i++) { const x = l._sx[i], y = l._sy[i];
                  if (isNaN(x)) continue; const p = m.layerPointToContainerPoint(
                    L.point(x + l._tl.x, y + l._tl.y));
                  const d = (p.x - c.x) ** 2 + (p.y - c.y) ** 2; if (d < bd) { bd = d; best = p; } }
                return [best.x, best.y]; }""")
            t0 = time.perf_counter()
            page.mouse.move(xy[0], xy[1])
            page.wait_for_selector(".leaflet-tooltip", timeout=30_000)
            out["hover_ms"] = (time.perf_counter() - t0) * 1000
        else:
            out["ready_ms"] = page.evaluate(READY_PEER)
    except Exception as exc:  # a peer that does not finish within the time-out
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    out["blocked"] = len(blocked)
    out["errors"] = errors[:3]
    context.close()
    return out


def bench_popups(browser, n: int, out_dir: Path) -> None:
    """Click-to-popup times on a crowded address and on a 200,000-character name."""
    firms = make_firms(n)
    crowd = min(5_000, n // 2)
    geometry = firms.geometry.to_numpy().copy()
    geometry[:crowd] = shapely.Point(-100.0, 40.0)
    geometry[crowd] = shapely.Point(-90.0, 35.0)
    names = firms["name"].to_numpy().copy()
    names[crowd] = "N" * 200_000
    firms = firms.assign(name=names).set_geometry(gpd.GeoSeries(geometry, crs=firms.crs))
    path = out_dir / "popups.html"
    t0 = time.perf_counter()
    m = gc.map(firms=firms, size="employees", tiles=None)  # default tooltip and popup
    t1 = time.perf_counter()
    gc.save_map(m, path)
    print(f"popups map: {n:,} firms, build {t1 - t0:.1f} s, save {time.perf_counter() - t1:.1f} s,"
          f" file {path.stat().st_size / 1e6:.1f} MB")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(path=TIMING_JS)
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else r.abort())
    page.goto(path.resolve().as_uri(), timeout=TIMEOUT_S * 1000)
    page.wait_for_function(READY_OURS, timeout=TIMEOUT_S * 1000, polling=50)
    for (lat, lon), label in (((40.0, -100.0), f"{crowd:,} firms at one point"),
                              ((35.0, -90.0), "a 200,000-character name")):
        page.evaluate(f"geocluster.maps[0].setView([{lat}, {lon}], 9, {{animate: false}})")
        page.wait_for_timeout(500)
        x, y = page.evaluate(f"""(() => {{ const m = geocluster.maps[0];
            const q = m.latLngToContainerPoint([{lat}, {lon}]); return [q.x, q.y]; }})()""")
        t0 = time.perf_counter()
        page.mouse.click(x + 1, y + 1)
        page.wait_for_selector(".leaflet-popup-content", timeout=TIMEOUT_S * 1000)
        elapsed = time.perf_counter() - t0
        heads = page.eval_on_selector_all(".gc-many-head, .gc-more",
                                          "els => els.map(e => e.textContent)")
        print(f"  {label}: click to visible popup {elapsed:.3f} s (Playwright round trip "
              f"included), runtime {page.evaluate('geocluster.timings.popup'):.1f} ms {heads}")
        page.evaluate("geocluster.maps[0].closePopup()")
    context.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2, help="browser loads per file")
    ap.add_argument("--peers", default="folium,explore")
    ap.add_argument("--popups", action="store_true",
                    help="time popups on a shared address and a 200,000-character name")
    args = ap.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
        return 1
    from playwright.sync_api import sync_playwright

    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    out_dir = Path(tempfile.mkdtemp(prefix="bench_map_"))
    if args.popups:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            bench_popups(browser, args.n, out_dir)
            browser.close()
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        return 0
    firms = make_firms(args.n)
    builders = {"geocluster": build_ours, "folium": build_folium, "explore": build_explore}
    methods = ["geocluster"] + [p for p in args.peers.split(",") if p]
    rows = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name in methods:
            path = out_dir / f"{name}.html"
            t_build, t_save = builders[name](firms, path)
            size = path.stat().st_size / 1e6
            loads = [open_in_browser(browser, path, ours=name == "geocluster")
                     for _ in range(args.repeat)]
            ok = [r for r in loads if "error" not in r]
            ready = statistics.median(r["ready_ms"] for r in ok) / 1000 if ok else float("nan")
            rows[name] = (t_build, t_save, size, ready, loads)
            print(f"{name:11s} build {t_build:6.1f} s  save {t_save:6.1f} s  "
                  f"file {size:6.1f} MB  ready in browser {ready:6.2f} s (median of {len(ok)})")
            for r in loads:
                print("            ", {k: v for k, v in r.items() if k != "timings"},
                      r.get("timings", ""))
            sys.stdout.flush()
        browser.close()
    ours = rows["geocluster"]
    for name in methods[1:]:
        peer = rows[name]
        print(f"ratio {name}/geocluster: build+save {(peer[0] + peer[1]) / (ours[0] + ours[1]):.1f}x"
              f", file {peer[2] / ours[2]:.1f}x, ready {peer[3] / ours[3]:.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
