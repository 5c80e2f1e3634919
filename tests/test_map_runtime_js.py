"""Unit tests of the maps' browser runtime (``geocluster/viz/static/geocluster-runtime.js``).

The runtime is loaded with node into a ``vm`` context whose ``window``, ``document`` and
``L`` (Leaflet) are small stubs, and its pure helpers (``geocluster.util``) are called
directly: colours as pixels, disc stamps, text clipping, table cells, tooltip and popup
content, the firm layer's draw order and hit test. The stub elements throw on
``innerHTML``, so every test also checks that text is only ever set as text. The browser
tests (``tests/test_maps_browser.py``) cover the same code in Chromium. Skipped when node is
not on PATH (node 20 in CI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from geocluster.viz import assets

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "geocluster" / "viz" / "static"
RUNTIME = STATIC / "geocluster-runtime.js"
TIMING = ROOT / "benchmarks" / "map_timing.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not on PATH")

#: Loads the runtime into a vm context with stub window/document/L; the test's body runs
#: inside it as a function whose return value is printed as JSON.
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
class El {
  constructor(tag) { this.tagName = tag; this.children = []; this.className = "";
                     this._text = ""; this.style = {}; this.attrs = {}; this.parentNode = null; }
  appendChild(c) { this.children.push(c); c.parentNode = this; return c; }
  insertBefore(c, ref) {
    const k = ref ? this.children.indexOf(ref) : -1;
    if (k < 0) { this.children.push(c); } else { this.children.splice(k, 0, c); }
    c.parentNode = this; return c;
  }
  get firstChild() { return this.children[0] || null; }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() { return this._text + this.children.map(c => c.textContent).join(""); }
  set innerHTML(v) { throw new Error("innerHTML set to " + v); }
  get innerHTML() { throw new Error("innerHTML read"); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  hasAttribute(k) { return k in this.attrs; }
}
const scripts = {};
const document = {
  createElement: tag => new El(tag),
  getElementById: id => scripts[id] || null,
  documentElement: new El("html"),
};
let stamp = 0;
const L = {
  Layer: { extend(proto) {
    function Layer() { if (this.initialize) { this.initialize.apply(this, arguments); } }
    Object.assign(Layer.prototype, proto);
    return Layer;
  } },
  latLng: (lat, lng) => ({lat: lat, lng: lng}),
  latLngBounds: (a, b) => ({south: a[0], west: a[1], north: b[0], east: b[1]}),
  Util: { stamp: o => o._leaflet_id || (o._leaflet_id = ++stamp) },
  DomUtil: { create(tag, cls, parent) {
    const el = new El(tag); el.className = cls || ""; if (parent) { parent.appendChild(el); }
    return el;
  } },
};
function describe(el) {  // an element tree as plain data
  return {tag: el.tagName, cls: el.className, text: el._text,
          children: el.children.map(describe)};
}
const files = JSON.parse(process.argv[1]);
const ctx = {document, L, console, scripts, describe, El, performance, files,
             requestAnimationFrame: f => f()};
ctx.window = ctx;
ctx.load = file => vm.runInContext(fs.readFileSync(file, "utf8"), ctx, {filename: file});
vm.createContext(ctx);
files.forEach(ctx.load);
const result = vm.runInContext("(function () {\n" + process.argv[2] + "\n})()", ctx);
process.stdout.write(JSON.stringify(result === undefined ? null : result));
"""


def run_js(body: str, files: list[Path] | None = None):
    """Run ``body`` (a function body; its ``return`` value comes back) after ``files``."""
    files = [RUNTIME] if files is None else files
    done = subprocess.run(
        [NODE, "-e", HARNESS, json.dumps([str(f) for f in files]), body],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ----------------------------------------------------------------------------- the files


@pytest.mark.parametrize("path", sorted(STATIC.glob("*.js")) + [TIMING], ids=lambda p: p.name)
def test_node_check(path):
    done = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_shipped_runtime_is_the_file_and_has_no_hooks_or_html_sinks():
    text = RUNTIME.read_text(encoding="utf-8")
    assert assets.RUNTIME_FILES[0] == RUNTIME.name
    assert text.strip() in assets.runtime_js()
    header = assets.runtime_header()
    assert (STATIC / assets.RUNTIME_FILES[1]).read_text(encoding="utf-8").strip() in header
    code = re.sub(r"//[^\n]*", "", text)  # the code without its comments
    for banned in ("performance", "timings", "readyAt", "innerHTML", "insertAdjacentHTML",
                   "outerHTML", "document.write", "eval(", "new Function"):
        assert banned not in code, banned
    for closer in ("</script", "</style", "{{", "{%", "{#"):
        assert closer not in (assets.runtime_js() + assets.runtime_css()).lower(), closer
    assert header.count("</script") == 1 and header.count("</style") == 1


def test_runtime_defines_window_geocluster_once():
    out = run_js("""
        var first = window.geocluster, keys = Object.keys(first).sort();
        first.marker = 1;
        load(files[0]);  // a second copy of the runtime in one page (two maps)
        return {keys: keys, same: window.geocluster === first, marker: geocluster.marker,
                version: first.version, util: Object.keys(first.util).sort(),
                empty: [first.maps.length, first.layers.length]};
    """)
    assert out == {
        "keys": ["data", "features", "info", "layers", "many", "maps", "none", "points",
                 "ready", "surface", "util", "version"],
        "same": True, "marker": 1, "version": 1,
        "util": ["cell", "clip", "discStamp", "hexToPixel", "hoverInfo", "info", "many",
                 "pointCanvas", "resolve", "text"],
        "empty": [0, 0],
    }


# ----------------------------------------------------------------------------- pure helpers


def test_hex_to_pixel_is_rgba_in_memory_order():
    out = run_js("""
        return ["#ff0000", "#00ff00", "#0000ff", "#123456", "#abcdefcc"].map(function (h) {
          var px = geocluster.util.hexToPixel(h);
          return [px >= 0, Array.from(new Uint8Array(new Uint32Array([px]).buffer))];
        });
    """)
    assert out == [
        [True, [255, 0, 0, 255]], [True, [0, 255, 0, 255]], [True, [0, 0, 255, 255]],
        [True, [0x12, 0x34, 0x56, 255]], [True, [0xAB, 0xCD, 0xEF, 255]],  # opaque always
    ]


def test_disc_stamp_covers_the_disc_and_flags_its_ring():
    out = run_js("""
        function info(R, w) {
          var s = geocluster.util.discStamp(R, w), px = [];
          for (var m = 0; m < s.n; m++) { px.push([s.offsets[2 * m], s.offsets[2 * m + 1], s.edge[m]]); }
          return {n: s.n, lim: s.lim, px: px};
        }
        return [info(3, 0), info(3, 1), info(1, 1), info(0.5, 0)];
    """)
    plain, ringed, small, tiny = out
    assert plain["lim"] == 4 and plain["n"] == len(plain["px"])
    offsets = {(dx, dy) for dx, dy, _ in plain["px"]}
    assert (0, 0) in offsets and len(offsets) == plain["n"]  # no pixel twice
    assert all(dx * dx + dy * dy <= 3.35 ** 2 for dx, dy in offsets)
    assert {(dx, dy) for dx in range(-3, 4) for dy in range(-3, 4)
            if dx * dx + dy * dy <= 9} <= offsets  # every pixel of the disc
    assert offsets == {(-x, y) for x, y in offsets} == {(y, x) for x, y in offsets}
    assert not any(e for *_, e in plain["px"])  # no stroke width, no ring
    ring = {(dx, dy) for dx, dy, e in ringed["px"] if e}
    assert {(dx, dy) for dx, dy, _ in ringed["px"]} == offsets
    assert ring == {(dx, dy) for dx, dy in offsets if dx * dx + dy * dy > 4}
    assert not any(e for *_, e in small["px"])  # too small for a ring
    assert tiny["n"] >= 1 and [0, 0, 0] in tiny["px"]


def test_clip_and_text():
    out = run_js("""
        var u = geocluster.util;
        return [u.clip("short"), u.clip("x".repeat(540)).length, u.clip("N".repeat(200000)),
                u.text(null), u.text(undefined), u.text(0), u.text(""), u.clip(12.5)];
    """)
    assert out[0] == "short"
    assert out[1] == 540  # Python cut it already; a small excess is left alone
    assert out[2] == "N" * 500 + "\u2026 (200,000 characters)"
    assert out[3:] == ["\u2013", "\u2013", "0", "", "12.5"]


def test_cell_and_resolve():
    out = run_js("""
        var u = geocluster.util;
        var coded = {levels: ["a", "b"], codes: [1, -1, 0]}, plain = {values: [3, null, "z"]};
        var d = {columns: [coded, plain], tooltip: {fields: ["id", "n"], cols: [1, 0]},
                 popup: null};
        u.resolve(d);
        return {cells: [0, 1, 2].map(function (i) { return [u.cell(coded, i), u.cell(plain, i)]; }),
                same: d.tooltip.columns[0] === plain && d.tooltip.columns[1] === coded,
                popup: d.popup};
    """)
    assert out == {"cells": [["b", 3], [None, None], ["a", "z"]], "same": True, "popup": None}


XSS = "<img src=x onerror=alert(1)>{{7*7}}"
SHORT_XSS = "<b>{{7*7}}</b>"  # a field name short enough for the two-column layout


def test_info_sets_every_string_as_text():
    out = run_js(f"""
        var spec = {{fields: ["name", {json.dumps(SHORT_XSS)}, "a field name of thirty characters"],
                     columns: [{{values: [{json.dumps(XSS)}, "b"]}}, {{values: [1, null]}},
                               {{levels: ["x"], codes: [0, -1]}}]}};
        return [describe(geocluster.util.info(spec, 0)), describe(geocluster.util.info(spec, 1))];
    """)
    first, second = out
    assert first["cls"] == "gc-info"
    rows = [(c["cls"], c["text"]) for c in first["children"]]
    assert rows == [
        ("gc-key", "name"), ("gc-val", XSS),
        ("gc-key", SHORT_XSS), ("gc-val", "1"),
        ("gc-key gc-wide", "a field name of thirty characters"),
        ("gc-val gc-wide gc-below", "x"),
    ]
    assert [c["text"] for c in second["children"]][1::2] == ["b", "\u2013", "\u2013"]


def test_many_lists_fifty_then_a_count_and_hover_says_how_many_more():
    out = run_js("""
        var u = geocluster.util, spec = {fields: ["id"], columns: [{values: []}]};
        for (var i = 0; i < 60; i++) { spec.columns[0].values.push("f" + i); }
        var list = []; for (i = 0; i < 60; i++) { list.push(i); }
        var box = u.many(spec, list), one = u.many(spec, [7]);
        var hover = [1, 2, 3].map(function (k) {
          return describe(u.hoverInfo({spec: spec, index: 0, same: list.slice(0, k)}));
        });
        return {box: describe(box), one: describe(one), hover: hover};
    """)
    box = out["box"]
    assert box["cls"] == "gc-many"
    kinds = [c["cls"] for c in box["children"]]
    assert kinds == ["gc-many-head"] + ["gc-info"] * 50 + ["gc-more"]
    assert box["children"][0]["text"] == "60 firms at this location"
    assert box["children"][-1]["text"] == "and 10 more"
    assert box["children"][50]["children"][1]["text"] == "f49"
    assert out["one"]["cls"] == "gc-info" and out["one"]["children"][1]["text"] == "f7"
    alone, two, three = out["hover"]
    assert alone["cls"] == "gc-info"
    assert two["children"][1]["text"] == "and 1 more firm at this location: click to list them"
    assert three["children"][1]["text"] == "and 2 more firms at this location: click to list them"


# ----------------------------------------------------------------------------- firm layer


def test_point_canvas_draw_order_bounds_and_hit_test():
    out = run_js("""
        var PointCanvas = geocluster.util.pointCanvas();
        var d = {lat: [40, 41, 40, 42, 40], lon: [-83, -82, -83, -81, -80],
                 radius: [2, 9, 2, 5, 2], codes: [1, 0, 0, 1, 0],
                 tooltip: {fields: [], columns: []}};
        var layer = new PointCanvas(d);
        // screen positions as a draw left them (pixels in the canvas); NaN: not drawn
        layer._sx = Float32Array.from([100, 300, 100, 500, NaN]);
        layer._sy = Float32Array.from([100, 100, 100, 100, 100]);
        layer._tl = {x: 10, y: 20};
        layer._W = 800;
        function hit(x, y) {
          var h = layer._hit({x: x + 10, y: y + 20});
          return h && {index: h.index, same: h.same, latlng: h.latlng, key: h.key.split(":")[1]};
        }
        return {order: Array.from(layer._order), bounds: layer.getBounds(),
                shared: hit(101, 101), big: hit(308, 100), edge: hit(100, 104.5),
                off: hit(100, 105.5),
                miss: hit(200, 100), hidden: hit(700, 100),
                single: new PointCanvas({lat: [1], lon: [2], radius: 4, codes: null})._r[0],
                empty: new PointCanvas({lat: [], lon: [], radius: 4, codes: null}).getBounds()};
    """)
    # big circles first (radius 9, then 5), then by colour code, then by row
    assert out["order"] == [1, 3, 2, 4, 0]
    assert out["bounds"] == {"south": 40, "west": -83, "north": 42, "east": -80}
    # firms 0 and 2 share an address: the one drawn last (row 0) is on top, both listed
    assert out["shared"] == {"index": 0, "same": [0, 2], "latlng": {"lat": 40, "lng": -83},
                             "key": "0"}
    assert out["big"]["index"] == 1 and out["big"]["same"] == [1]  # within radius 9 + 3
    assert out["edge"]["index"] == 0  # radius 2 plus 3 px of tolerance
    assert out["off"] is None and out["miss"] is None and out["hidden"] is None
    assert out["single"] == 4 and out["empty"] is None


def test_data_reads_json_script_elements():
    out = run_js("""
        scripts.a_data = new El("script");
        scripts.a_data.textContent = '{"name":"\\\\u003cb\\\\u003e","n":[1,2]}';
        return geocluster.data("a_data");
    """)
    assert out == {"name": "<b>", "n": [1, 2]}


# ----------------------------------------------------------------------------- timing hooks


def test_timing_hooks_wrap_the_runtime_from_outside():
    out = run_js("""
        scripts.x = new El("script");
        scripts.x.textContent = "[1]";
        geocluster.data("x");
        geocluster.data("x");
        var t = geocluster.timings;
        return {keys: Object.keys(t).sort(), parse: t.parse >= 0,
                order: t.runtime <= t.firstData, value: geocluster.data("x")};
    """, files=[TIMING, RUNTIME])
    assert out == {"keys": ["firstData", "parse", "runtime"], "parse": True, "order": True,
                   "value": [1]}
